import os, sys, numpy as np
sys.path.insert(0,'/tmp/research'); from common import *
layer=sys.argv[1]; tag=os.environ.get('TAG','')
def pid(p): return os.path.basename(p)[:8]
npaths=paths('nih_normal'); pats=sorted(set(map(pid,npaths)))
r=np.random.default_rng(1234); hp=set(r.choice(pats,int(round(0.2*len(pats))),replace=False))
hn_i=[i for i,p in enumerate(npaths) if pid(p) in hp]; fn_i=[i for i,p in enumerate(npaths) if pid(p) not in hp]
apaths=paths('nih_anom'); apats=sorted(set(map(pid,apaths))); hap=set(r.choice(apats,len(apats)//2,replace=False))
ho_i=[i for i,p in enumerate(apaths) if pid(p) in hap]
Fall=feats('nih_normal',layer); A=feats('nih_anom',layer)
S={'FN':Fall[fn_i][:120],'HN':Fall[hn_i],'BX':feats('nih_boxed',layer),'HP':A[ho_i]}
G={k:((v-v[:,:,::-1])**2).sum(-1) for k,v in S.items()}
if os.environ.get('ZL'):
    for k,n in [('VN','zl_vn'),('VA','zl_va'),('FN','zl_normal')]:
        v=feats(n,layer); G['zl'+k]=((v-v[:,:,::-1])**2).sum(-1)
np.savez(f'/tmp/research/asym_{layer}{tag}.npz',**G)
