import os, numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter
def pid(p): return os.path.basename(p)[:8]
def fit_normal_paths(ds):
    if ds=='nih':
        npaths=open('/tmp/research/cache/nih_normal_paths.txt').read().split('\n'); pats=sorted(set(map(pid,npaths)))
        r=np.random.default_rng(1234); hp=set(r.choice(pats,int(round(0.2*len(pats))),replace=False))
        return [p for p in npaths if pid(p) not in hp]
    return open('/tmp/research/cache/zl_normal_paths.txt').read().split('\n')
def mean_img(ds):
    f=f'/tmp/research/cache/mean_{ds}.npy'
    if os.path.exists(f): return np.load(f)
    m=np.mean([np.asarray(Image.open(p).convert('L').resize((256,256),Image.BILINEAR),np.float32)/255 for p in fit_normal_paths(ds)],0)
    np.save(f,m); return m
if __name__=='__main__':
    for ds in ['nih','zl']:
        m=mean_img(ds); Image.fromarray((m*255).astype(np.uint8)).save(f'/tmp/research/mean_{ds}.png')
        print(ds, (m.reshape(8,32,8,32).mean((1,3))*100).round().astype(int))
def lung_prior(ds, s_out=32, s_in=4):
    m=mean_img(ds); L=gaussian_filter(m,s_out,mode='reflect')-gaussian_filter(m,s_in,mode='reflect')
    L=np.clip(L,0,None); return L/L.max()
