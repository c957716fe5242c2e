import os, sys, time, numpy as np, onnxruntime as ort
from PIL import Image
R='/work/shared/data'
def list_imgs(d): return sorted(os.path.join(d,f) for f in os.listdir(d) if f.lower().endswith('.png'))
def load(p,size=256):
    im=Image.open(p).convert('RGB').resize((size,size),Image.BILINEAR)
    return (np.asarray(im,dtype=np.float32)/127.5-1.0).transpose(2,0,1)
so=ort.SessionOptions(); so.intra_op_num_threads=2; so.inter_op_num_threads=1
sess=ort.InferenceSession('/work/shared/weights/xception_imagenet_b13.onnx',so)
L=['block4_out','block12_out','block13_out']
boxed=list_imgs(f'{R}/nih-dev/boxed'); bpat={os.path.basename(p)[:8] for p in boxed}
nih_an=[p for p in list_imgs(f'{R}/nih-dev/train/anomaly') if os.path.basename(p)[:8] not in bpat]
zn=list_imgs(f'{R}/zhanglab-dev/train/normal'); pick=np.random.default_rng(1234)
zn=[zn[i] for i in sorted(pick.choice(len(zn),500,replace=False))]
za=list_imgs(f'{R}/zhanglab-dev/train/anomaly')
zk=sorted(set(i for s in range(3) for i in np.random.default_rng(100+s).choice(len(za),16,replace=False)))
za=[za[i] for i in zk]
sets={'nih_normal':list_imgs(f'{R}/nih-dev/train/normal'),'nih_anom':nih_an,'nih_boxed':boxed,
 'zl_vn':list_imgs(f'{R}/zhanglab-dev/val-patients/normal'),'zl_va':list_imgs(f'{R}/zhanglab-dev/val-patients/anomaly'),
 'zl_k':za,'zl_normal':zn}
for k,ps in sets.items():
    if os.path.exists(f'/tmp/research/cache/{k}_block13_out.npy'): continue
    t0=time.time(); outs=[[] for _ in L]
    for i in range(0,len(ps),8):
        xb=np.stack([load(p) for p in ps[i:i+8]])
        for j,o in enumerate(sess.run(L,{'input':xb})): outs[j].append(o.astype(np.float16))
    for l,o in zip(L,outs): np.save(f'/tmp/research/cache/{k}_{l}.npy',np.concatenate(o))
    with open(f'/tmp/research/cache/{k}_paths.txt','w') as f: f.write('\n'.join(ps))
    print(k,len(ps),time.time()-t0,flush=True)
