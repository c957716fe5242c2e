import sys, numpy as np
sys.path.insert(0,'/tmp/research'); from common import *
BXP=paths('nih_boxed'); MASK,FMASK,FINDS=load_boxes(BXP)
CHANCE=MASK.mean()
def auc(neg,pos): return roc_auc_score(np.r_[np.zeros(len(neg)),np.ones(len(pos))],np.r_[neg,pos])
def border(m, margin):
    if margin<=0: return m
    m=m.copy(); m[:,:margin]=-np.inf; m[:,-margin:]=-np.inf; m[:,:,:margin]=-np.inf; m[:,:,-margin:]=-np.inf; return m
def ev_nih(g, sigma=4, margin=0, perfind=False, hist=False, post=None):
    """g: dict set->grid [N,H,W] for BX,HN,HP"""
    mp={k:to_map(g[k],sigma) for k in g}
    if post: mp=post(mp)
    mp={k:border(mp[k],margin) for k in ['BX','HN','HP']}
    bx=mp['BX']; n=len(bx); flat=bx.reshape(n,-1)
    am=flat.argmax(1); hit=MASK.reshape(n,-1)[np.arange(n),am]
    k5=int(0.05*flat.shape[1]); top=np.argpartition(-flat,k5,axis=1)[:,:k5]
    share=np.take_along_axis(MASK.reshape(n,-1),top,1).mean()
    sc={k:v.reshape(len(v),-1).max(1) for k,v in mp.items()}
    r=dict(pg=hit.mean(),top5=share,auc_bx=auc(sc['HN'],sc['BX']),auc_hp=auc(sc['HN'],sc['HP']))
    if perfind:
        for f,d in FMASK.items():
            ii=np.array(sorted(d)); r['pg_'+f]=np.mean([d[i].reshape(-1)[am[i]] for i in ii])
    if hist:
        r['hist_bx']=np.histogram2d(am//256,am%256,bins=4,range=[[0,256],[0,256]])[0].astype(int)
        amn=mp['HN'].reshape(len(mp['HN']),-1).argmax(1)
        r['hist_hn']=np.histogram2d(amn//256,amn%256,bins=4,range=[[0,256],[0,256]])[0].astype(int)
    return r
def ev_zl(g, sigma=4, margin=0, post=None):
    mp={k:to_map(g[k],sigma) for k in g}
    if post: mp=post(mp)
    sc={k:border(mp[k],margin).reshape(len(g[k]),-1).max(1) for k in ['VN','VA']}
    return dict(auc_zl=auc(sc['VN'],sc['VA']))
