import os, numpy as np, csv
from scipy.ndimage import gaussian_filter
from sklearn.metrics import roc_auc_score
C_='/tmp/research/cache'
def avgpool5(f):  # [N,C,H,W]
    N,C,H,W=f.shape
    p=np.pad(f,((0,0),(0,0),(2,2),(2,2))); c=p.cumsum(2).cumsum(3)
    c=np.pad(c,((0,0),(0,0),(1,0),(1,0)))
    return (c[:,:,5:,5:]-c[:,:,:-5,5:]-c[:,:,5:,:-5]+c[:,:,:-5,:-5])/25.0
def paths(k): return open(f'{C_}/{k}_paths.txt').read().split('\n')
def feats(k, layer):
    if layer=='b12+b13':
        a=feats(k,'block12_out'); b=feats(k,'block13_out')
        b=b.repeat(2,1).repeat(2,2)  # nearest upsample 8x8->16x16
        return np.concatenate([a,b],3)
    f=np.load(f'{C_}/{k}_{layer}.npy').astype(np.float32)
    return np.ascontiguousarray(avgpoolk(f,int(os.environ.get('POOL',5)),os.environ.get('PADEXC')=='1').transpose(0,2,3,1))
def avgpoolk(f,k,exclude=False):
    if k==1: return f
    r=k//2; N,C,H,W=f.shape
    p=np.pad(f,((0,0),(0,0),(r,r),(r,r))); c=p.cumsum(2).cumsum(3)
    c=np.pad(c,((0,0),(0,0),(1,0),(1,0)))
    s=c[:,:,k:,k:]-c[:,:,:-k,k:]-c[:,:,k:,:-k]+c[:,:,:-k,:-k]
    if not exclude: return s/(k*k)
    o=np.ones((1,1,H,W),np.float32); o=np.pad(o,((0,0),(0,0),(r,r),(r,r))).cumsum(2).cumsum(3); o=np.pad(o,((0,0),(0,0),(1,0),(1,0)))
    cnt=o[:,:,k:,k:]-o[:,:,:-k,k:]-o[:,:,k:,:-k]+o[:,:,:-k,:-k]
    return s/cnt  # N,H,W,C
def nn_full(Q,B,qid=None,bid=None,chunk=1024):
    bb=(B**2).sum(1); out=np.empty(len(Q),np.float32)
    for i in range(0,len(Q),chunk):
        q=Q[i:i+chunk]; d=(q**2).sum(1)[:,None]-2*q@B.T+bb[None]
        if qid is not None: d[qid[i:i+chunk,None]==bid[None]]=np.inf
        out[i:i+chunk]=d.min(1)
    return np.sqrt(out.clip(0))
def nn_full_map(Q,B,loo=False,cap=40000,rng_seed=7):
    # Q [nq,H,W,C], B [nb,H,W,C]; bank = all B patches (random subset of cap if larger)
    nq,H,W,C=Q.shape; Bf=B.reshape(-1,C); bid=np.repeat(np.arange(len(B)),H*W)
    if len(Bf)>cap:
        s=np.sort(np.random.default_rng(rng_seed).choice(len(Bf),cap,replace=False)); Bf=Bf[s]; bid=bid[s]
    qid=np.repeat(np.arange(nq),H*W) if loo else None
    return nn_full(Q.reshape(-1,C),Bf,qid,bid if loo else None).reshape(nq,H,W)
def nn_pos_map(Q,B,win,loo=False):
    nq,H,W,C=Q.shape; nb=len(B); out=np.empty((nq,H,W),np.float32)
    for y in range(H):
        ys=slice(max(0,y-win),min(H,y+win+1))
        for x in range(W):
            xs=slice(max(0,x-win),min(W,x+win+1))
            bk=B[:,ys,xs].reshape(-1,C); npos=bk.shape[0]//nb
            bid=np.repeat(np.arange(nb),npos)
            q=Q[:,y,x]; d=(q**2).sum(1)[:,None]-2*q@bk.T+(bk**2).sum(1)[None]
            if loo: d[np.arange(nq)[:,None]==bid[None]]=np.inf
            out[:,y,x]=np.sqrt(d.min(1).clip(0))
    return out
def train_D(Fn,proto,rng,epochs=100,lr=2e-4):
    # Fn [N,P,C]; reference hinge + Adam
    C=Fn.shape[2]
    w=rng.standard_normal(C).astype(np.float32)*np.sqrt(2.0/(C+1))
    m=np.zeros_like(w); v=np.zeros_like(w); b1,b2,eps,wd,step=0.9,0.999,1e-8,1e-5,0
    for ep in range(epochs):
        order=rng.permutation(len(Fn))
        for i in range(0,len(order),8):
            xn=Fn[order[i:i+8]].reshape(-1,C)
            al=(rng.random((len(xn),1))*0.9+0.1).astype(np.float32)
            xf=xn*(1-al)+proto[rng.integers(0,len(proto),len(xn))]*al
            dn=xn@w; df=xf@w
            g=-(xn[(0.5-dn)>0]).sum(0)/len(xn)+(xf[(0.5+df)>0]).sum(0)/len(xf)
            g=g+wd*w; step+=1
            m=b1*m+(1-b1)*g; v=b2*v+(1-b2)*g*g
            w-=lr*(m/(1-b1**step))/(np.sqrt(v/(1-b2**step))+eps)
    return w
def up_matrix(n,out=256):  # bilinear, align_corners=False (torch semantics)
    M=np.zeros((out,n),np.float32); sc=n/out
    for i in range(out):
        s=max((i+0.5)*sc-0.5,0.0); i0=int(np.floor(s)); i1=min(i0+1,n-1); l=s-i0
        M[i,i0]+=1-l; M[i,i1]+=l
    return M
def to_map(g,sigma=4.0):  # g [N,H,W] -> [N,256,256]
    M=up_matrix(g.shape[1]); Mx=up_matrix(g.shape[2])
    u=np.einsum('ih,nhw,jw->nij',M,g,Mx)
    if sigma>0: u=np.stack([gaussian_filter(a,sigma,mode='reflect',truncate=4) for a in u])
    return u
def load_boxes(bpaths):
    rows=list(csv.DictReader(open('/work/shared/data/nih-dev/boxes.csv')))
    names=[os.path.basename(p) for p in bpaths]; idx={n:i for i,n in enumerate(names)}
    masks=np.zeros((len(names),256,256),bool); fmask={}
    finds=[set() for _ in names]
    yy=np.arange(256)+0.5
    for r in rows:
        i=idx[r['image']]; x,y,w,h=(float(r[k]) for k in 'xywh')
        m=((yy[:,None]>=y)&(yy[:,None]<=y+h))&((yy[None]>=x)&(yy[None]<=x+w))
        masks[i]|=m; f=r['finding']; finds[i].add(f)
        fmask.setdefault(f,{}); fmask[f][i]=fmask[f].get(i,np.zeros((256,256),bool))|m
    return masks,fmask,finds
