import sys, os, numpy as np
sys.path.insert(0,'/tmp/research'); from evalmaps import *
def zs(Z,c,k,ref):  # standardise by fit-normal LOO stats (pooled over positions)
    m,s=Z[ref+'|FN'].mean(),Z[ref+'|FN'].std(); return (Z[c+'|'+k]-m)/s
def cand(Z,spec,s,k):
    # spec: 'D:<mine>' | 'NN:<name>' | 'DNN:<mine>:<nn>:<wnn>'
    t=spec.split(':')
    if t[0]=='D': return Z[f'D_{t[1]}_s{s}|{k}']
    if t[0]=='NN': return Z[f'{t[1]}|{k}']
    if t[0]=='DNN':
        d=f'D_{t[1]}_s{s}'; return zs(Z,d,k,d)+float(t[3])*zs(Z,t[2],k,t[2])
def run(fn_nih, spec, sigma=4, margin=0, fn_zl=None, label=None, post=None):
    rs=[]
    for s in range(3):
        Z=np.load(fn_nih); r=ev_nih({k:cand(Z,spec,s,k) for k in ['BX','HN','HP','FN']},sigma,margin,post=post('nih') if post else None)
        if fn_zl and os.path.exists(fn_zl):
            Zz=np.load(fn_zl); r.update(ev_zl({k:cand(Zz,spec,s,k) for k in ['VN','VA','FN']},sigma,margin,post=post('zl') if post else None))
        rs.append(r)
    keys=rs[0].keys(); out={k:(np.mean([r[k] for r in rs]),np.std([r[k] for r in rs])) for k in keys}
    line=f"| {label or spec} | "+' | '.join(f"{out[k][0]:.3f}±{out[k][1]:.3f}" for k in ['pg','top5','auc_bx','auc_hp'])+' | '+(f"{out['auc_zl'][0]:.3f}±{out['auc_zl'][1]:.3f}" if 'auc_zl' in out else '-')+' |'
    print(line,flush=True); open('/tmp/research/rows.txt','a').write(line+'\n'); return out

from prior import lung_prior
def LP(ds,so=32,mg=24):
    L=lung_prior(ds,so); L[:mg]=0;L[-mg:]=0;L[:,:mg]=0;L[:,-mg:]=0; return L
def CP(ds,sg=64):
    y=np.arange(256)+0.5-128; return np.exp(-(y[:,None]**2+y[None]**2)/(2*sg*sg))
def post_add(beta,P=LP):
    def mk(ds):
        Pr=P(ds); Pz=(Pr-Pr.mean())/Pr.std()
        def f(mp):
            m,s=mp['FN'].mean(),mp['FN'].std()
            return {k:(v-m)/s+beta*Pz[None] for k,v in mp.items()}
        return f
    return mk
def post_mask(P=LP):
    def mk(ds):
        M=P(ds)>0
        return lambda mp:{k:np.where(M[None],v,-np.inf) for k,v in mp.items()}
    return mk
_AS={}
def cand_as(Z,spec,s,k,zl=False):
    _,mine,mode,af=spec.split(':')
    if af not in _AS: _AS[af]=np.load(af)
    Aa=_AS[af]; p='zl' if zl else ''
    fn=Aa[p+'FN']; mu=fn.mean(0); sd=fn.std(0)+1e-6
    zA=(Aa[p+k]-mu)/sd
    d=Z[f'D_{mine}_s{s}|{k}']; dfn=Z[f'D_{mine}_s{s}|FN']; zD=(d-dfn.mean())/dfn.std()
    side=(d>=d[:,:,::-1]).astype(np.float32)
    if mode=='a': return zD+zA*side
    if mode=='b': return zD+zA
    if mode=='c': return zA*side
    if mode=='d': return zD+0.5*zA*side
_old=cand
def cand(Z,spec,s,k):
    if spec.startswith('AS:'): return cand_as(Z,spec,s,k,zl=('VN' in k or 'VA' in k or _ZL[0]))
    return _old(Z,spec,s,k)
_ZL=[False]
