#!/usr/bin/python3
"""Mutation check: do the references catch plausible semantic mistakes?

    /usr/bin/python3 tests/ref/mutants.py

Each mutant changes one rule of tools/net2torch.py (same padding's extra on the
wrong side, no ceil_mode drop rule, wrong padding mode, eps ignored, softmax
over everything, HWC flatten, zero-padded maxpool, wrong avgpool divisors,
wrong activation...) and runs every reference under its tolerance. Each mutant
must be caught by at least one reference; exit status 1 otherwise.
"""
import glob
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), 'tools'))
import selfcheck as sc, net2torch as n2t
torch.set_num_threads(1)


orig_resolve = n2t._resolve_pads
def same_low(pad, in_hw, k, s, d):
    p = orig_resolve(pad, in_hw, k, s, d)
    if pad == 'same': p = (p[1], p[0], p[3], p[2])
    return p
orig_pool_out = n2t._pool_out
def no_drop(n, lo, hi, k, s, d, ceil):
    span = n + lo + hi - d*(k-1) - 1
    return (-(-span // s) if ceil else span // s) + 1
orig_fwd = n2t.NetModule._layer_forward
def mk(kind):
    def f(self, layer, xs):
        if kind == 'reflect2replicate' and layer.op == 'conv2d' and layer.attrs['padding_mode'] == 'reflect':
            layer.attrs = dict(layer.attrs, padding_mode='replicate')
        if kind == 'bn_no_eps' and layer.op == 'batchnorm2d':
            self._get(layer.name).eps = 0.0
        if kind == 'softmax_all' and layer.op == 'softmax':
            x = xs[0]; return F.softmax(x.reshape(1, -1), 1).reshape(x.shape)
        if kind == 'flatten_hwc' and layer.op == 'flatten':
            return xs[0].permute(0, 2, 3, 1).reshape(1, -1, 1, 1)
        if kind == 'maxpool_zero_pad' and layer.op == 'maxpool2d' and any(layer.pads):
            a = layer.attrs; t,b,l,r = n2t._window_pads(layer, xs[0].shape[2:])
            return F.max_pool2d(F.pad(xs[0], (l,r,t,b)), a['kernel'], a['stride'], 0, a['dilation'])
        if kind == 'avg_always_include' and layer.op == 'avgpool2d':
            layer.attrs = dict(layer.attrs, count_include_pad=True)
        if kind == 'avg_full_divisor' and layer.op == 'avgpool2d':
            a = layer.attrs; t,b,l,r = n2t._window_pads(layer, xs[0].shape[2:])
            return F.avg_pool2d(F.pad(xs[0], (l,r,t,b)), a['kernel'], a['stride'], 0)
        if kind == 'circular2reflect' and layer.op == 'conv2d' and layer.attrs['padding_mode'] == 'circular':
            layer.attrs = dict(layer.attrs, padding_mode='reflect')
        if kind == 'hardswish_as_relu6' and layer.op == 'hardswish':
            return F.relu6(xs[0])
        if kind == 'leaky_default_slope' and layer.op == 'leakyrelu':
            return F.leaky_relu(xs[0], 0.01)
        if kind == 'sumpool_as_avg' and layer.op == 'sumpool2d':
            a = layer.attrs; t,b,l,r = n2t._window_pads(layer, xs[0].shape[2:])
            return F.avg_pool2d(F.pad(xs[0], (l,r,t,b)), a['kernel'], a['stride'], 0)
        return orig_fwd(self, layer, xs)
    return f
muts = ['same_low', 'no_drop', 'reflect2replicate', 'bn_no_eps', 'softmax_all', 'flatten_hwc', 'maxpool_zero_pad',
        'avg_always_include', 'avg_full_divisor', 'circular2reflect', 'hardswish_as_relu6', 'leaky_default_slope', 'sumpool_as_avg']
cases = sorted(os.path.dirname(p) for p in glob.glob(os.path.join(HERE, '*', 'meta.json')))
missed = 0
for m in muts:
    n2t._resolve_pads = same_low if m == 'same_low' else orig_resolve
    n2t._pool_out = no_drop if m == 'no_drop' else orig_pool_out
    n2t.NetModule._layer_forward = mk(m)
    caught = []
    worst = 0.0
    for c in cases:
        meta, sd, x, exp = sc.load_case(c)
        try:
            net = n2t.load_net(os.path.join(c, 'model.net'))
            outs = n2t.run(net, sd, x)
            got = np.concatenate([o.ravel() for o in outs])
            if got.shape != exp.shape: caught.append(os.path.basename(c)); continue
            sizes = [int(np.prod(o["shape"])) for o in meta["outputs"]]
            r = sc.within(np.split(got, np.cumsum(sizes)[:-1]), np.split(exp.astype(float), np.cumsum(sizes)[:-1]), 1e-5, meta['tolerance']['floor'])
            worst = max(worst, r)
            if r > 1: caught.append(os.path.basename(c))
        except Exception:
            caught.append(os.path.basename(c) + '!')
    print('%-20s caught by %3d (worst %.0e x tolerance): %s' % (m, len(caught), worst, ' '.join(caught[:6])))
    missed += not caught
print('mutants: %s' % ('%d not caught' % missed if missed else 'all caught'))
sys.exit(1 if missed else 0)
