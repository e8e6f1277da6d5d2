"""Generates the small checkpoint/pickle files in this folder (run once by hand; NOT used by the tests).

    /usr/bin/python3 test/io/data/make_fixtures.py   # Debian python3-torch 1.13, numpy 1.24

Everything is deterministic (aranges and literals), so the tests state the expected values directly.
"""
import collections
import fractions
import os
import pickle
import sys
import tempfile
import zipfile

import numpy as np
import torch

OUT = os.path.dirname(os.path.abspath(__file__))


def mixed():
    base = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4)
    half = (torch.arange(6, dtype=torch.float32) * 0.5).half().reshape(2, 3)
    return {
        'base': base,
        'transposed': base.permute(2, 0, 1),  # strided view sharing base's storage
        'slice': base[1, :, 1:3],  # storage offset + strides
        'row': base[1, 2],  # storage offset, contiguous
        'expanded': torch.arange(3, dtype=torch.float32).reshape(3, 1).expand(3, 4),  # stride 0
        'half': half,
        'half_t': half.t(),
        'bf16': torch.tensor([1.5, -2.0, 3.25], dtype=torch.bfloat16),
        'f64': torch.tensor([3.141592653589793, -1e300], dtype=torch.float64),
        'i64': torch.tensor([-(2 ** 40), 7], dtype=torch.int64),
        'i32': torch.tensor([-5, 6], dtype=torch.int32),
        'i16': torch.tensor([-300, 300], dtype=torch.int16),
        'i8': torch.tensor([-7, 7], dtype=torch.int8),
        'u8': torch.tensor([0, 255], dtype=torch.uint8),
        'bool': torch.tensor([True, False, True]),
        'scalar': torch.tensor(2.5),
        'empty': torch.zeros(0, 3),
        'param': torch.nn.Parameter(torch.full((2, 2), 4.0)),
        'nested': {'a': {'b': torch.ones(2)}, 'list': [torch.zeros(1), torch.ones(1)]},
        'number': 3, 'ratio': 0.25, 'name': 'hello', 'ints': [1, 2, 3], 'big': 2 ** 62, 'nothing': None,
    }


class Synthesis(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.resolution = 4
        self.conv = torch.nn.Conv2d(2, 3, 1)
        self.register_buffer('resample_filter', torch.arange(4, dtype=torch.float32).reshape(2, 2))


def persistent(module, class_name):
    """Mimics torch_utils/persistence.py of NVIDIA stylegan2-ada-pytorch: REDUCE(_reconstruct_persistent_obj, (meta,))."""
    from torch_utils.persistence import _reconstruct_persistent_obj
    cls = type(module)

    class Persistent(cls):
        def __reduce_ex__(self, protocol):
            fields = list(super().__reduce_ex__(protocol))
            meta = dict(type='class', version=4, module_src='# source', class_name=class_name, state=fields[2])
            return (_reconstruct_persistent_obj, (meta,))

    module.__class__ = Persistent
    return module


def network_pkl():
    sys.path.insert(0, tempfile.mkdtemp())
    pkg = os.path.join(sys.path[0], 'torch_utils')
    os.makedirs(pkg)
    open(os.path.join(pkg, '__init__.py'), 'w').close()
    with open(os.path.join(pkg, 'persistence.py'), 'w') as f:
        f.write('def _reconstruct_persistent_obj(meta):\n    raise RuntimeError\n')
    torch.manual_seed(0)
    g = torch.nn.Module()
    g.z_dim = 4
    g._init_kwargs = {'z_dim': 4, 'mapping_kwargs': {'num_layers': 2}}
    g.mapping = torch.nn.Linear(4, 4)
    g.synthesis = persistent(Synthesis(), 'training.networks.SynthesisNetwork')
    with torch.no_grad():
        g.mapping.weight.copy_(torch.arange(16, dtype=torch.float32).reshape(4, 4))
        g.mapping.bias.copy_(torch.arange(4, dtype=torch.float32))
    g = persistent(g, 'training.networks.Generator')
    return {
        'G_ema': g,
        'plain': torch.nn.Sequential(torch.nn.Linear(2, 1, bias=False), torch.nn.ReLU()),
        'training_set_kwargs': {'resolution': 64},
        'np': np.arange(6, dtype=np.float32).reshape(2, 3),
        'np_scalar': np.float64(1.5),
        'np_int': np.int64(-9),
    }


class Thing:
    def __init__(self):
        self.a = 1
        self.b = [2, 3]


def values():
    shared = [7, 8]
    return {
        'int': 1, 'neg': -3, 'i32': 2 ** 31 - 1, 'i16': 40000, 'big': 2 ** 70, 'negbig': -(2 ** 70),
        'float': 1.5, 'str': 'h\xe9llo \u20ac\n"q" \'s\' \\', 'bytes': b'\x00\xff', 'none': None, 't': True, 'f': False,
        'tuple': (1, 'a', (2,)), 'list': [1, [2, 3]], 'set': {1, 2}, 'frozenset': frozenset({3}),
        'od': collections.OrderedDict(a=1), 'nested': {'x': {'y': 2}}, 'shared': [shared, shared], 'empty': (),
        'obj': Thing(), 'fraction': fractions.Fraction(1, 3), 5: 'int key',
    }


def main():
    torch.save(mixed(), os.path.join(OUT, 'mixed.pt'))
    torch.save(mixed(), os.path.join(OUT, 'mixed.legacy.pt'), _use_new_zipfile_serialization=False)
    with open(os.path.join(OUT, 'network.pkl'), 'wb') as f:
        pickle.dump(network_pkl(), f, protocol=4)
    with zipfile.ZipFile(os.path.join(OUT, 'not_a_checkpoint.zip'), 'w') as z:
        z.writestr('notes/readme.txt', 'an ordinary zip archive, not a checkpoint')
    for protocol in (0, 1, 2, 3, 4, 5):
        with open(os.path.join(OUT, f'values.p{protocol}.pkl'), 'wb') as f:
            pickle.dump(values(), f, protocol=protocol)


if __name__ == '__main__':
    main()
