import os, sys, time, numpy as np
sys.path.insert(0,'/tmp/research'); from common import *
ds, layer = sys.argv[1], sys.argv[2]
wins=[int(w) for w in (sys.argv[3] if len(sys.argv)>3 else '1,2').split(',')]
out=f'/tmp/research/grids_{ds}_{layer}'+os.environ.get('TAG','')+'.npz'
t0=time.time()
def pid(p): return os.path.basename(p)[:8]
if ds=='nih':
    npaths=paths('nih_normal'); pats=sorted(set(map(pid,npaths)))
    r=np.random.default_rng(1234); hp=set(r.choice(pats,int(round(0.2*len(pats))),replace=False))
    hn_i=[i for i,p in enumerate(npaths) if pid(p) in hp]; fn_i=[i for i,p in enumerate(npaths) if pid(p) not in hp]
    apaths=paths('nih_anom'); apats=sorted(set(map(pid,apaths)))
    hap=set(r.choice(apats,len(apats)//2,replace=False))
    kp_i=[i for i,p in enumerate(apaths) if pid(p) not in hap]; ho_i=[i for i,p in enumerate(apaths) if pid(p) in hap]
    Fall=feats('nih_normal',layer); A=feats('nih_anom',layer)
    S={'FN':Fall[fn_i],'HN':Fall[hn_i],'BX':feats('nih_boxed',layer),'HP':A[ho_i]}; KP=A[kp_i]
    kp_paths=[apaths[i] for i in kp_i]
    kpick={s:np.random.default_rng(s).choice(len(KP),16,replace=False) for s in range(3)}
    print('fit normals',len(fn_i),'held normals',len(hn_i),'Kpool',len(kp_i),'held pneu',len(ho_i),flush=True)
else:
    S={'FN':feats('zl_normal',layer),'VN':feats('zl_vn',layer),'VA':feats('zl_va',layer)}
    KP=feats('zl_k',layer); kpaths=paths('zl_k')
    import glob
    za=sorted(glob.glob('/work/shared/data/zhanglab-dev/train/anomaly/*.png'))
    kpick={s:np.array([kpaths.index(za[i]) for i in np.random.default_rng(100+s).choice(len(za),16,replace=False)]) for s in range(3)}
FN=S['FN']; N,H,W,C=FN.shape
nloo=min(len(FN),120)
G={}
# NN maps (seed independent; bank = all fit-normal patches, capped 40k random)
for name,fn in [('nn',lambda Q,loo: nn_full_map(Q,FN,loo))]+[(f'pos{w}',(lambda w: lambda Q,loo: nn_pos_map(Q,FN,w,loo))(w)) for w in wins]:
    t=time.time()
    for k in S:
        if name=='nn' and os.environ.get('NNKP_ONLY'): continue
        if k=='FN':
            if name=='nn':  # LOO on a subset of fit normals
                G[f'{name}|FN']=nn_full_map(FN[:nloo],FN,loo=True)
            else:
                G[f'{name}|FN']=nn_pos_map(FN[:nloo],FN,int(name[3:]),loo=True)
        else: G[f'{name}|{k}']=fn(S[k],False)
    G[f'{name}|KP']=fn(KP,False)
    print(name,'done',time.time()-t,flush=True)
# D per seed, mined by each NN kind
Fn=FN.reshape(N,H*W,C)
for s in range(3):
    for mine in os.environ.get('MINES','nn,'+','.join(f'pos{w}' for w in wins)).split(','):
        rng=np.random.default_rng(s)
        ki=kpick[s]; Fa=KP[ki].reshape(-1,C); dist=G[f'{mine}|KP'][ki].reshape(-1)
        proto=Fa[np.argsort(-dist)[:int(len(Fa)*0.2)]]
        w=train_D(Fn,proto,rng,epochs=int(os.environ.get('EPOCHS',100)))
        for k in S:
            X=S[k] if k!='FN' else S[k][:nloo]
            G[f'D_{mine}_s{s}|{k}']=-(X@w)
        G[f'w_{mine}_s{s}']=w
    print('seed',s,'done',time.time()-t0,flush=True)
np.savez(out,**G)
print('total',time.time()-t0)
