#!/usr/bin/python3
"""cnnc_export: a PyTorch model to a cnnc .net file and its safetensors weights.

usage: cnnc_export.py MODEL CxHxW [-w WEIGHTS] [--name NAME] [-o DIR] [--seed N]

MODEL is one of
  pkg.mod:Class              an importable nn.Module class (or a function that
                             returns a module), built without arguments
  'pkg.mod:Class(ARGS)'      ... built with these arguments (Python literals)
  path/to/file.py:Class      ... imported from a file
  checkpoint.pt              a whole module saved with torch.save(model, path)
and -w loads a state_dict (a torch.save'd file or .safetensors) into it.

The model is put in eval mode, traced with torch.fx on a 1xCxHxW input and
written as DIR/NAME.net and DIR/NAME.safetensors (F32). Layers are named by
their module paths, so tensor names are the model's state_dict keys.
Anything that cannot be translated is an error naming the module, its type
and where it is defined; then nothing is written.

Exit status: 0 written, 1 the model cannot be exported, 2 usage error.
"""

import argparse
import ast
import builtins
import importlib
import importlib.util
import inspect
import itertools
import json
import operator
import os
import re
import struct
import sys
import tempfile
import warnings

TOOL = "cnnc_export"


class UsageError(Exception):
    """The command line names something that is not there (exit 2)."""


class ModelError(Exception):
    """The model cannot be exported (exit 1); args are the messages."""


try:
    import torch
    import torch.fx
    import torch.nn as nn
    from torch.fx.passes.shape_prop import ShapeProp
except ImportError as e:  # pragma: no cover - depends on the machine
    sys.stderr.write("%s: error: PyTorch is needed (Debian: apt-get install python3-torch): %s\n"
                     % (TOOL, e))
    sys.exit(2)

# Frames from these files are not the user's code when we look for the
# line of the model that made a node.
_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep

# Where tensor names may not come from a module path, the language wants
# identifiers: [A-Za-z_][A-Za-z0-9_.]*
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_C_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_C_KEYWORDS = set(
    "auto break case char const continue default do double else enum extern float for goto if "
    "inline int long register restrict return short signed sizeof static struct switch typedef "
    "union unsigned void volatile while _Bool _Complex _Imaginary".split())

# What the language offers, for the hint after "has no .net equivalent".
_OFFER = ("the .net language has Conv2d, BatchNorm2d, Linear, Max/AvgPool2d, adaptive pools "
          "that divide evenly, Flatten, Dropout, ReLU, ReLU6, Sigmoid, Tanh, Hardswish, LeakyReLU, "
          "Softmax over channels, + and torch.cat over channels")


# ---------------------------------------------------------------------------
# Places: where a module class is defined, where the model made a node
# ---------------------------------------------------------------------------

def _rel(path):
    """A path relative to the working directory when it lies below it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def class_site(cls):
    """FILE:LINE of a class's definition, as inspect finds it."""
    try:
        return "%s:%d" % (_rel(inspect.getsourcefile(cls)), inspect.getsourcelines(cls)[1])
    except (TypeError, OSError):
        return "an unknown place"


def type_name(cls):
    """nn.X for torch.nn's own classes, module.Class for the rest."""
    if getattr(nn, cls.__name__, None) is cls:
        return "nn." + cls.__name__
    return "%s.%s" % (cls.__module__, cls.__qualname__)


def _user_site():
    """FILE:LINE of the innermost frame outside torch and this tool: the
    line of the model's forward that is being traced."""
    me = _user_site.__code__.co_filename
    f = sys._getframe(1)
    while f is not None:
        fn = f.f_code.co_filename
        if not fn.startswith(_TORCH_DIR) and fn != me and not fn.startswith("<"):
            return "%s:%d" % (_rel(fn), f.f_lineno)
        f = f.f_back
    return None


def _user_site_of(tb):
    """The same for an exception's traceback (innermost user frame)."""
    import traceback
    me = _user_site.__code__.co_filename
    for fr in reversed(traceback.extract_tb(tb)):
        if not fr.filename.startswith(_TORCH_DIR) and fr.filename != me and not fr.filename.startswith("<"):
            return "%s:%d" % (_rel(fr.filename), fr.lineno)
    return None


# ---------------------------------------------------------------------------
# Loading the model
# ---------------------------------------------------------------------------

def parse_shape(text):
    """'3x32x32' -> (3, 32, 32); '40x49' (CxL, a 1-D model) -> (40, 49)."""
    m = re.fullmatch(r"([0-9]+)x([0-9]+)(?:x([0-9]+))?", text)
    if not m or min(int(g) for g in m.groups() if g is not None) < 1:
        raise UsageError("the input shape must be CxHxW (or CxL for a 1-D model) with positive sizes, like "
                         "3x32x32 or 40x49; got '%s'" % text)
    return tuple(int(g) for g in m.groups() if g is not None)


def parse_spec(spec):
    """'where:attr(args)' -> (where, attr, args, kwargs, called)."""
    m = re.fullmatch(r"([^:()]+):([A-Za-z_][A-Za-z0-9_.]*)\s*(?:\((.*)\))?\s*", spec, re.S)
    if not m:
        raise UsageError("'%s' is not a checkpoint file nor pkg.mod:Class[(ARGS)]" % spec)
    where, attr, argtext = m.groups()
    args, kwargs = [], {}
    if argtext is not None:
        try:
            call = ast.parse("f(%s)" % argtext, mode="eval").body
            if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
                raise ValueError
            args = [ast.literal_eval(a) for a in call.args]
            kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
        except (SyntaxError, ValueError):
            raise UsageError("constructor arguments must be Python literals, like "
                             "'pkg.mod:Net(10, width=0.5)'; got '(%s)'" % argtext)
    return where, attr, args, kwargs, argtext is not None


def import_from(where):
    """Imports a module by dotted name or from a .py file."""
    if where.endswith(".py") or os.sep in where:
        path = os.path.abspath(where)
        if not os.path.isfile(path):
            raise UsageError("no file '%s'" % where)
        # Its siblings import as they would when it runs as a script.
        sys.path.insert(0, os.path.dirname(path))
        name = os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod  # inspect and pickle look classes up here
        spec.loader.exec_module(mod)
        return mod
    try:
        return importlib.import_module(where)
    except ModuleNotFoundError as e:
        if e.name and (where == e.name or where.startswith(e.name + ".")):
            raise UsageError("no module named '%s' (is its directory on PYTHONPATH?)" % where)
        raise


def build_from_spec(spec, seed):
    """Imports and builds the module a pkg.mod:Class(ARGS) names; returns
    the module and its default network name."""
    where, attr, args, kwargs, called = parse_spec(spec)
    try:
        obj = import_from(where)
    except UsageError:
        raise
    except Exception as e:
        raise ModelError("importing '%s' failed: %s: %s" % (where, type(e).__name__, e))
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UsageError("'%s' has no '%s'" % (where, attr))
        obj = getattr(obj, part)
    if isinstance(obj, nn.Module):
        if called:
            raise UsageError("'%s' is a module instance already; give it without arguments" % attr)
        return obj, type(obj).__name__
    if not callable(obj):
        raise UsageError("'%s:%s' is neither an nn.Module nor a class or function that makes one" % (where, attr))
    # Fixed seed: without -w the placeholder weights are the same every run.
    torch.manual_seed(seed)
    try:
        model = obj(*args, **kwargs)
    except Exception as e:
        raise ModelError("building %s(...) failed: %s: %s" % (attr, type(e).__name__, e))
    if not isinstance(model, nn.Module):
        raise ModelError("%s(...) returned a %s, not an nn.Module" % (attr, type(model).__name__))
    return model, obj.__name__


def _torch_load(path):
    """torch.load on the CPU, with failures reported as model problems."""
    try:
        return torch.load(path, map_location="cpu")
    except (ModuleNotFoundError, AttributeError) as e:
        raise ModelError("cannot load %s: %s (the classes it was saved with must be importable: "
                         "check PYTHONPATH)" % (path, e))
    except Exception as e:
        raise ModelError("cannot load %s: %s: %s" % (path, type(e).__name__, e))


def load_checkpoint(path):
    """A whole module saved by torch.save(model)."""
    obj = _torch_load(path)
    if isinstance(obj, nn.Module):
        return obj, type(obj).__name__
    if isinstance(obj, dict):
        raise UsageError("%s holds a state_dict, not a module: give the class too, like "
                         "cnnc_export.py pkg.mod:Class CxHxW -w %s" % (path, path))
    raise ModelError("%s holds a %s, not an nn.Module" % (path, type(obj).__name__))


def read_safetensors(path):
    """{name: tensor} from a safetensors file (F32, F16, BF16, F64)."""
    dtypes = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64}
    with open(path, "rb") as f:
        data = f.read()
    try:
        (n,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8:8 + n].decode("utf-8"))
        body = bytearray(data[8 + n:])
        out = {}
        for name, info in header.items():
            if name == "__metadata__":
                continue
            b, e = info["data_offsets"]
            t = torch.frombuffer(body[b:e], dtype=dtypes[info["dtype"]]) if e > b else \
                torch.zeros(0, dtype=dtypes[info["dtype"]])
            out[name] = t.reshape(info["shape"]).clone()
        return out
    except (struct.error, ValueError, KeyError, TypeError, RuntimeError) as e:
        raise ModelError("%s is not a readable safetensors file: %s" % (path, e))


def load_weights(model, path):
    """Loads a state_dict file into the model; every parameter and buffer
    must be there (except batchnorm's num_batches_tracked)."""
    if not os.path.isfile(path):
        raise UsageError("no file '%s'" % path)
    if path.endswith(".safetensors"):
        sd = read_safetensors(path)
    else:
        obj = _torch_load(path)
        if isinstance(obj, nn.Module):
            obj = obj.state_dict()
        if isinstance(obj, dict) and not all(torch.is_tensor(v) for v in obj.values()):
            for key in ("state_dict", "model_state_dict", "model", "net"):
                inner = obj.get(key)
                if isinstance(inner, nn.Module):
                    inner = inner.state_dict()
                if isinstance(inner, dict):
                    obj = inner
                    break
        if not isinstance(obj, dict) or not all(torch.is_tensor(v) for v in obj.values()):
            raise ModelError("%s holds no state_dict (a dict of tensors)" % path)
        sd = obj
    # Saved from nn.DataParallel: every key starts with "module.".
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    own = model.state_dict()
    missing = [k for k in own if k not in sd and not k.endswith("num_batches_tracked")]
    problems = []
    if missing:
        problems.append("%s lacks %s" % (path, _few(missing)))
    extra = [k for k in sd if k not in own]
    if extra:
        problems.append("%s has tensors the model does not: %s" % (path, _few(extra)))
    for k, v in sd.items():
        if k in own and tuple(v.shape) != tuple(own[k].shape):
            problems.append("%s: %s is %s, the model's %s" % (
                path, k, _fmt_shape(v.shape) or "a scalar", _fmt_shape(own[k].shape) or "a scalar"))
    if problems:
        raise ModelError(*problems)
    try:
        model.load_state_dict(sd, strict=False)
    except RuntimeError as e:
        raise ModelError("%s does not fit the model: %s" % (path, str(e).strip()))


def _few(names, n=5):
    """The first names of a list, and how many more."""
    s = ", ".join(names[:n])
    return s + (" and %d more" % (len(names) - n) if len(names) > n else "")


# ---------------------------------------------------------------------------
# Tracing
# ---------------------------------------------------------------------------

class _Tracer(torch.fx.Tracer):
    """torch.fx's tracer, remembering for every node which module's forward
    made it and the line of the model that did, for names and messages."""

    def trace(self, root, concrete_args=None):
        """Starts with the root module as the scope of top-level ops."""
        self.scope = [("", root)]
        self.failed_scope = None
        return super().trace(root, concrete_args)

    def call_module(self, m, forward, args, kwargs):
        """Scopes the nodes a module's forward makes; remembers where tracing failed."""
        self.scope.append((self.path_of_module(m), m))
        try:
            return super().call_module(m, forward, args, kwargs)
        except Exception:
            if self.failed_scope is None:
                self.failed_scope = self.scope[-1]
            raise
        finally:
            self.scope.pop()

    def create_node(self, *args, **kwargs):
        """Tags each node with its scope and the model's line that made it."""
        node = super().create_node(*args, **kwargs)
        node.meta["cnnc_scope"] = self.scope[-1]
        node.meta["cnnc_site"] = _user_site()
        return node


def _where(path, mod):
    """'PATH (Type, defined at FILE:LINE)'."""
    return "%s (%s, defined at %s)" % (path or "top level", type_name(type(mod)), class_site(type(mod)))


def trace(model, shape):
    """The model's fx graph with every node's output shape, for 1xCxHxW."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand((1,) + shape, generator=gen) * 2 - 1
    # PyTorch's own warnings (even 'same' kernels...) are noise here.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model(x)
        except Exception as e:
            raise ModelError("%s does not run on a 1x%s input: %s%s" % (
                type(model).__name__, "x".join(map(str, shape)), str(e).strip(),
                _at(_user_site_of(e.__traceback__))))
        tracer = _Tracer()
        try:
            graph = tracer.trace(model, concrete_args=_defaults(model))
        except Exception as e:
            path, mod = tracer.failed_scope or ("", model)
            raise ModelError("%s: torch.fx cannot trace it: %s%s" % (
                _where(path, mod), str(e).strip().splitlines()[0], _at(_user_site_of(e.__traceback__))))
        _drop_guards(graph)
        gm = torch.fx.GraphModule(model, graph)
        try:
            ShapeProp(gm).propagate(x)
        except Exception as e:
            raise ModelError("running the traced %s failed: %s" % (type(model).__name__, str(e).strip()))
    return gm


def _drop_guards(graph):
    """Removes run-time checks from the graph: torch._assert (shape checks,
    and the ones fx adds for arguments fixed by concrete_args), what only
    they used, and forward's fixed arguments. They are not the model."""
    guards = {torch._assert, getattr(torch.fx._symbolic_trace, "_assert_is_none", None)}
    pure = {operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge,
            operator.not_, operator.and_, operator.or_, operator.getitem, builtins.getattr}
    for node in reversed(list(graph.nodes)):
        if node.op == "call_function" and node.target in guards:
            graph.erase_node(node)
        elif not node.users and ((node.op == "call_function" and node.target in pure)
                                 or (node.op == "call_method" and node.target in ("size", "dim"))):
            graph.erase_node(node)
    for node in [n for n in graph.nodes if n.op == "placeholder"][1:]:
        if not node.users:
            graph.erase_node(node)


def _defaults(model):
    """forward's arguments after the input that have defaults, fixed at
    them (forward(x, return_features=False) would not trace otherwise)."""
    try:
        params = list(inspect.signature(model.forward).parameters.values())[1:]
    except (TypeError, ValueError):
        return None
    fixed = {p.name: p.default for p in params
             if p.default is not inspect.Parameter.empty and p.kind is not p.VAR_KEYWORD}
    return fixed or None


def _at(site):
    """'; at FILE:LINE' or nothing."""
    return "; at %s" % site if site else ""


# ---------------------------------------------------------------------------
# Translation: fx nodes to .net statements
# ---------------------------------------------------------------------------

class Stmt:
    """A .net statement in the making; named once the whole graph is known."""

    def __init__(self, op, attrs, inputs, node, tensors=(), path=None, scope=""):
        self.op = op              # .net op, or "input"
        self.attrs = attrs        # [(key, text)] in the order written
        self.inputs = inputs      # [Stmt]
        self.node = node          # the fx node it came from
        self.tensors = list(tensors)  # [(suffix, tensor, state_dict key or None)]
        self.path = path          # module path when a module made it
        self.scope = scope        # module path of the forward that made it
        self.call = 0             # how many calls of the same module came before
        self.name = None
        self.explicit = True      # False: left to the language's auto-naming


class Val:
    """A tensor value: the statement that holds it and its storage, so
    an in-place op updates every alias of what it overwrote."""

    def __init__(self, stmt, storage):
        self.stmt, self.storage = stmt, storage


NONTENSOR = object()   # sizes, shapes: arguments, not tensors
FAILED = object()      # a node that could not be translated


class NodeError(Exception):
    """One node cannot be translated; the message says why."""


def _parse_sig(text):
    """'input, dim=None' -> [(name, default or _REQ)]."""
    out = []
    for part in text.split(", "):
        if "=" in part:
            k, v = part.split("=", 1)
            out.append((k, ast.literal_eval(v)))
        else:
            out.append((part, _REQ))
    return out


_REQ = object()

# Python signatures of the functions and methods we translate, so that
# positional and keyword spellings read alike.
_SIGS = {k: _parse_sig(v) for k, v in {
    "act": "input, inplace=False",
    "hardtanh": "input, min_val=-1.0, max_val=1.0, inplace=False",
    "leaky_relu": "input, negative_slope=0.01, inplace=False",
    "softmax": "input, dim=None, _stacklevel=3, dtype=None",
    "dropout": "input, p=0.5, training=True, inplace=False",
    "max_pool2d": "input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, "
                  "return_indices=False",
    "avg_pool2d": "input, kernel_size, stride=None, padding=0, ceil_mode=False, "
                  "count_include_pad=True, divisor_override=None",
    "adaptive_avg_pool2d": "input, output_size",
    "adaptive_max_pool2d": "input, output_size, return_indices=False",
    "flatten": "input, start_dim=0, end_dim=-1",
    "add": "input, other, alpha=1",
    "cat": "tensors, dim=0",
    "clamp": "input, min=None, max=None",
    "clamp_min": "input, min",
    "mean": "input, dim=None, keepdim=False, dtype=None",
    "gelu": "input, approximate='none'",
    "elu": "input, alpha=1.0, inplace=False",
    "mul": "input, other",
    "stochastic_depth": "input, p, mode, training=True",
    "pad": "input, pad, mode='constant', value=None",
    "interpolate": "input, size=None, scale_factor=None, mode='nearest', align_corners=None, "
                   "recompute_scale_factor=None, antialias=False",
    "pixel_shuffle": "input, upscale_factor",
    "max_pool1d": "input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, "
                  "return_indices=False",
    "avg_pool1d": "input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True",
    "adaptive_pool1d": "input, output_size",
    "none": "input",
}.items()}


def _bind(sig, args, kwargs):
    """Binds call arguments to a signature from _SIGS; extra positional
    arguments (view's sizes) go under '*'."""
    params = _SIGS[sig]
    out = {}
    for (k, _), v in zip(params, args):
        out[k] = v
    out["*"] = tuple(args[len(params):])
    for k, v in kwargs.items():
        if k not in (p for p, _ in params) or k in out:
            raise NodeError("unexpected argument '%s'" % k)
        out[k] = v
    for k, d in params:
        if k not in out:
            if d is _REQ:
                raise NodeError("missing argument '%s'" % k)
            out[k] = d
    return out


def _fn(name, default=None):
    """A torch function by dotted name, or default when this torch lacks it."""
    obj = torch
    for part in name.split(".")[1:]:
        obj = getattr(obj, part, None)
        if obj is None:
            return default
    return obj


def _function_table():
    """fx call_function targets -> (canonical name, signature, in place);
    names this torch lacks are left out."""
    table = {}
    for names, canon, sig, inplace in [
            (["torch.relu", "torch.nn.functional.relu"], "relu", "act", False),
            (["torch.relu_", "torch.nn.functional.relu_"], "relu", "none", True),
            (["torch.nn.functional.relu6"], "relu6", "act", False),
            (["torch.nn.functional.hardtanh"], "hardtanh", "hardtanh", False),
            (["torch.nn.functional.hardtanh_"], "hardtanh", "hardtanh", True),
            (["torch.sigmoid"], "sigmoid", "none", False),
            (["torch.sigmoid_"], "sigmoid", "none", True),
            (["torch.tanh"], "tanh", "none", False),
            (["torch.tanh_"], "tanh", "none", True),
            (["torch.nn.functional.hardswish"], "hardswish", "act", False),
            (["torch.nn.functional.hardsigmoid"], "hardsigmoid", "act", False),
            (["torch.nn.functional.leaky_relu"], "leaky_relu", "leaky_relu", False),
            (["torch.nn.functional.leaky_relu_"], "leaky_relu", "leaky_relu", True),
            (["torch.nn.functional.softmax", "torch.softmax"], "softmax", "softmax", False),
            (["torch.nn.functional.dropout", "torch.nn.functional.dropout2d"], "dropout", "dropout", False),
            (["torch.nn.functional.max_pool2d", "torch.max_pool2d"], "max_pool2d", "max_pool2d", False),
            (["torch.nn.functional.avg_pool2d"], "avg_pool2d", "avg_pool2d", False),
            (["torch.nn.functional.adaptive_avg_pool2d"], "adaptive_avg_pool2d", "adaptive_avg_pool2d", False),
            (["torch.nn.functional.adaptive_max_pool2d"], "adaptive_max_pool2d", "adaptive_max_pool2d", False),
            (["torch.flatten"], "flatten", "flatten", False),
            (["torch.add"], "add", "add", False),
            (["torch.cat", "torch.concat"], "cat", "cat", False),
            (["torch.clamp", "torch.clip"], "clamp", "clamp", False),
            (["torch.clamp_", "torch.clip_"], "clamp", "clamp", True),
            (["torch.clamp_min"], "clamp_min", "clamp_min", False),
            (["torch.mean"], "mean", "mean", False),
            (["torch.nn.functional.silu"], "silu", "act", False),
            (["torch.nn.functional.gelu"], "gelu", "gelu", False),
            (["torch.nn.functional.elu"], "elu", "elu", False),
            (["torch.nn.functional.elu_"], "elu", "elu", True),
            (["torch.mul", "torch.multiply"], "mul", "mul", False),
            (["torch.nn.functional.pad", "torch._C._nn.pad"], "pad", "pad", False),
            (["torch.nn.functional.interpolate"], "interpolate", "interpolate", False),
            (["torch.nn.functional.pixel_shuffle", "torch.pixel_shuffle"], "pixel_shuffle", "pixel_shuffle", False),
            (["torch.nn.functional.max_pool1d", "torch.max_pool1d"], "max_pool1d", "max_pool1d", False),
            (["torch.nn.functional.avg_pool1d", "torch.avg_pool1d"], "avg_pool1d", "avg_pool1d", False),
            (["torch.nn.functional.adaptive_avg_pool1d", "torch.adaptive_avg_pool1d"], "adaptive_avg_pool1d",
             "adaptive_pool1d", False),
            (["torch.nn.functional.adaptive_max_pool1d"], "adaptive_max_pool1d", "adaptive_pool1d", False)]:
        for n in names:
            f = _fn(n)
            if f is not None:
                table[f] = (canon, sig, inplace)
    table[operator.add] = ("add", "add", False)
    table[operator.iadd] = ("add", "add", True)
    table[operator.mul] = ("mul", "mul", False)
    table[operator.imul] = ("mul", "mul", True)
    table[operator.getitem] = ("getitem", None, False)
    table[builtins.getattr] = ("getitem", None, False)
    try:  # torchvision's stochastic depth (EfficientNet), fx-wrapped: identity in eval mode
        from torchvision.ops import stochastic_depth
        table[stochastic_depth] = ("stochastic_depth", "stochastic_depth", False)
    except ImportError:  # pragma: no cover - depends on the machine
        pass
    return table


_FUNCS = _function_table()

# fx call_method names -> (canonical name, signature); a trailing _ is in place
_METHODS = {
    "relu": ("relu", "none"), "sigmoid": ("sigmoid", "none"), "tanh": ("tanh", "none"),
    "softmax": ("softmax", "softmax"), "flatten": ("flatten", "flatten"),
    "add": ("add", "add"), "clamp": ("clamp", "clamp"), "clip": ("clamp", "clamp"),
    "clamp_min": ("clamp_min", "clamp_min"), "mean": ("mean", "mean"), "mul": ("mul", "mul"),
    "view": ("reshape", "none"), "reshape": ("reshape", "none"),
    "contiguous": ("alias", "none"), "size": ("getitem", None), "dim": ("getitem", None),
}


def fn_name(target):
    """How a function or method reads in a message."""
    if isinstance(target, str):
        return "Tensor.%s()" % target
    mod = getattr(target, "__module__", None) or ""
    name = getattr(target, "__name__", None) or repr(target)
    if mod.startswith("torch.nn.functional") or mod == "torch._C._nn":
        return "F.%s" % name
    if mod in ("_operator", "operator"):
        return "operator.%s" % name
    if mod == "torch" or mod.startswith("torch._C") or not mod:
        return "torch.%s" % name
    return "%s.%s" % (mod, name)


def _pair(v, what):
    """An int or a 1- or 2-sequence as (h, w)."""
    if isinstance(v, int):
        return (v, v)
    if isinstance(v, (tuple, list)) and len(v) in (1, 2) and all(isinstance(i, int) for i in v):
        return (v[0], v[-1])
    raise NodeError("%s must be an int or a pair of ints, got %r" % (what, v))


def _conv_keys(m):
    """The keys nn.Conv1d and nn.Conv2d spell alike: groups, bias, padding_mode."""
    keys = []
    if m.groups != 1:
        keys.append(("groups", str(m.groups)))
    if m.bias is None:
        keys.append(("bias", "false"))
    if m.padding_mode != "zeros":
        keys.append(("padding_mode", m.padding_mode))
    return keys


def _fmt_pair(p):
    """(3, 3) -> '3', (3, 5) -> '3x5'."""
    return str(p[0]) if p[0] == p[1] else "%dx%d" % p


def _fmt_pads(t, b, l, r):
    """Padding as the language writes it: N, HxW, or top,bottom,left,right."""
    if t == b and l == r:
        return _fmt_pair((t, l))
    return "%d,%d,%d,%d" % (t, b, l, r)


def _fmt_float(v, what):
    """A float the .net lexer reads back exactly."""
    v = float(v)
    if v != v or v in (float("inf"), float("-inf")):
        raise NodeError("%s is %r" % (what, v))
    return repr(v)


def _shape(node):
    """The fx node's output shape, or None when it is not one tensor."""
    tm = node.meta.get("tensor_meta") if hasattr(node, "meta") else None
    return tuple(tm.shape) if tm is not None and hasattr(tm, "shape") else None


def _net_shape(shape):
    """A batch-1 torch shape as the .net tensor it is: NCHW -> CxHxW,
    (1, N) -> Nx1x1; None when the language has no such tensor."""
    if shape is None or not shape or shape[0] != 1:
        return None
    if len(shape) == 4:
        return tuple(shape[1:])
    if len(shape) == 3:  # (1, C, L) of a 1-D model: Cx1xL
        return (shape[1], 1, shape[2])
    if len(shape) == 2:
        return (shape[1], 1, 1)
    return None


def _disp_shape(shape):
    """A torch shape as the .net file writes it: CxHxW, or CxL for (1, C, L)."""
    if shape is not None and len(shape) == 3:
        return "%dx%d" % (shape[1], shape[2])
    return _fmt_shape(_net_shape(shape))


def _fmt_shape(s):
    """(16, 8, 8) -> '16x8x8'."""
    return "x".join(str(d) for d in s)


class Exporter:
    """Walks the traced graph in order, turning nodes into statements."""

    def __init__(self, model, gm):
        self.model, self.gm = model, gm
        self.stmts = []          # in graph order; the input is stmts[0]
        self.env = {}            # fx node -> Val | NONTENSOR | FAILED
        self.latest = {}         # storage -> statement that last wrote it
        self.calls = {}          # module path -> calls so far
        self.outputs = []        # [Stmt]
        self.errors, self.warnings = [], []
        self.input_stmt = None
        self.unsupported = False  # some op has no .net equivalent at all
        self.unsupported_uses = {}  # op or module type -> places it is used

    # -- messages -----------------------------------------------------------

    def _where(self, node):
        """The module responsible for a node, its type and definition."""
        if node.op == "call_module":
            return _where(node.target, self.model.get_submodule(node.target))
        path, mod = node.meta.get("cnnc_scope", ("", self.model))
        return _where(path, mod)

    def _say(self, node, msg, sep=": "):
        """A message about one node, with its module and its line."""
        if node.op in ("call_function", "call_method"):
            msg = "%s%s%s" % (fn_name(node.target), sep, msg)
        site = node.meta.get("cnnc_site")
        return "%s: %s%s" % (self._where(node), msg, "; called at %s" % site if site else "")

    def error(self, node, msg, sep=": "):
        """Records an error; the export goes on to find the others."""
        self.errors.append(self._say(node, msg, sep))

    def warn(self, node, msg):
        """Records a warning: exported, but the user should know."""
        self.warnings.append(self._say(node, msg))

    # -- values ---------------------------------------------------------------

    def value(self, n):
        """The current Val of a node argument (after in-place writes)."""
        v = self.env[n]
        if isinstance(v, Val):
            return Val(self.latest.get(v.storage, v.stmt), v.storage)
        return v

    def tensor_arg(self, a, what="input"):
        """A node argument that must be a tensor the language holds."""
        if not isinstance(a, torch.fx.Node):
            raise NodeError("its %s is the constant %r; .net ops take tensors only" % (what, a))
        v = self.value(a)
        if not isinstance(v, Val) or _net_shape(_shape(a)) is None:
            raise NodeError("its %s is not a batch-1 NCHW or (1, N) tensor" % what)
        return v

    def emit(self, node, op, attrs, inputs, tensors=(), inplace=False, path=None):
        """Adds a statement reading inputs (Vals); returns its Val."""
        if path is None and node.op == "call_module":
            path = node.target
        scope = node.meta.get("cnnc_scope", ("", None))[0]
        st = Stmt(op, attrs, [v.stmt for v in inputs], node, tensors, path, scope)
        if path is not None:
            st.call = self.calls.get(path, 0)
            self.calls[path] = st.call + 1
        self.stmts.append(st)
        if inplace:
            # Every alias of the overwritten tensor now reads this result.
            self.latest[inputs[0].storage] = st
            return Val(st, inputs[0].storage)
        return Val(st, object())

    # -- the walk -------------------------------------------------------------

    def run(self):
        """Visits every node once, in the graph's (program) order."""
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                self.placeholder(node)
            elif node.op == "output":
                self.output(node)
            elif node.op == "get_attr":
                self.env[node] = FAILED
                self.error(node, "reads the tensor '%s' directly (as in F.conv2d(x, self.weight)); "
                                 "use modules such as nn.Conv2d and nn.Linear, whose weights have "
                                 "state_dict names" % node.target)
            else:
                self.call(node)

    def placeholder(self, node):
        """The first argument of forward is the input; others must go unused."""
        if self.input_stmt is None:
            self.input_stmt = Stmt("input", [("", _disp_shape(_shape(node)))], [], node)
            self.stmts.append(self.input_stmt)
            self.env[node] = Val(self.input_stmt, object())
        elif node.users:
            self.env[node] = FAILED
            self.errors.append("%s: forward takes a second tensor '%s'; a .net model has one input"
                               % (_where("", self.model), node.target))
        else:
            self.env[node] = NONTENSOR

    def output(self, node):
        """What forward returns becomes the model's outputs, in order."""
        res = node.args[0]
        outs = list(res) if isinstance(res, (tuple, list)) else [res]
        for o in outs:
            if not isinstance(o, torch.fx.Node):
                kind = "a dict" if isinstance(o, dict) else "a %s" % type(o).__name__
                self.errors.append("%s: forward returns %s; a .net model returns tensors only"
                                   % (_where("", self.model), kind))
                continue
            v = self.value(o)
            if v is FAILED:
                continue
            if not isinstance(v, Val) or _net_shape(_shape(o)) is None:
                self.errors.append("%s: forward returns '%s', which is not a batch-1 NCHW or (1, N) tensor"
                                   % (_where("", self.model), o.name))
            elif v.stmt is self.input_stmt:
                self.errors.append("%s: forward returns its input unchanged" % _where("", self.model))
            else:
                self.outputs.append(v.stmt)

    def call(self, node):
        """Translates one call_module/call_function/call_method node."""
        handler = self.handler(node)
        if handler is None:
            self.env[node] = FAILED
            self.unsupported = True
            if node.op == "call_module":
                kind = type_name(type(self.model.get_submodule(node.target)))
                place = node.target
            else:
                kind = fn_name(node.target)
                place = node.meta.get("cnnc_scope", ("", None))[0] or "top level"
            # A model full of one op (SiLU everywhere) gets three messages
            # for it and then a count, not a hundred lines.
            seen = self.unsupported_uses.setdefault(kind, [])
            seen.append(place)
            if len(seen) <= 3:
                if node.op == "call_module":
                    self.error(node, "%s has no .net equivalent" % kind.split(".")[-1])
                else:
                    self.error(node, "has no .net equivalent", sep=" ")
            return
        ins = [n for n in node.all_input_nodes]
        if any(self.env.get(n) is FAILED for n in ins):
            self.env[node] = FAILED  # said already; do not cascade
            return
        try:
            self.env[node] = handler(node)
        except NodeError as e:
            self.env[node] = FAILED
            self.error(node, str(e))

    def handler(self, node):
        """The function translating this node, or None when there is none."""
        if node.op == "call_module":
            m = self.model.get_submodule(node.target)
            h = _MODULES.get(type(m))
            return (lambda n: h(self, n, m)) if h else None
        if node.op == "call_function":
            entry = _FUNCS.get(node.target) if _hashable(node.target) else None
            if entry is None:
                return None
            canon, sig, inplace = entry
            return lambda n: self.function(n, canon, sig, inplace)
        if node.op == "call_method":
            name = node.target
            inplace = name.endswith("_") and not name.endswith("__")
            entry = _METHODS.get(name[:-1] if inplace else name)
            if entry is None:
                return None
            canon, sig = entry
            return lambda n: self.function(n, canon, sig, inplace)
        return None

    # -- functions and methods -------------------------------------------------

    def function(self, node, canon, sig, inplace):
        """A call_function/call_method node with its arguments bound."""
        if canon == "getitem":
            # x.size(0), x.shape[0]: values for view's arguments. Indexing a
            # tensor (slicing) has no .net equivalent.
            if _shape(node) is None:
                return NONTENSOR
            raise NodeError("indexing or slicing a tensor has no .net equivalent")
        a = _bind(sig, node.args, node.kwargs)
        inplace = inplace or bool(a.get("inplace"))
        x = a.get("input")
        if canon in ("relu", "relu6", "sigmoid", "tanh", "hardswish", "hardsigmoid", "silu"):
            return self.emit(node, canon, [], [self.tensor_arg(x)], inplace=inplace)
        if canon == "gelu":
            return self.gelu(node, x, a["approximate"])
        if canon == "elu":
            return self.elu(node, x, a["alpha"], inplace)
        if canon == "mul":
            return self.mul(node, x, a["other"], inplace)
        if canon == "pad":
            return self.pad(node, x, a["pad"], a["mode"], a["value"])
        if canon == "interpolate":
            if a["antialias"]:
                raise NodeError("antialias=True has no .net equivalent")
            return self.upsample(node, x, a["mode"], a["align_corners"])
        if canon == "pixel_shuffle":
            return self.pixelshuffle(node, x, a["upscale_factor"])
        if canon == "max_pool1d":
            if a["return_indices"]:
                raise NodeError("return_indices=True has no .net equivalent")
            return self.pool1d(node, x, "maxpool1d", a["kernel_size"], a["stride"], a["padding"], a["dilation"],
                               a["ceil_mode"], True)
        if canon == "avg_pool1d":
            return self.pool1d(node, x, "avgpool1d", a["kernel_size"], a["stride"], a["padding"], 1,
                               a["ceil_mode"], a["count_include_pad"])
        if canon in ("adaptive_avg_pool1d", "adaptive_max_pool1d"):
            return self.adaptive1d(node, x, a["output_size"], "avg" if "avg" in canon else "max")
        if canon == "stochastic_depth":
            if a["training"]:
                self.warn(node, "training=True drops even in eval mode; exported as the identity")
            return self.tensor_arg(x)
        if canon == "hardtanh":
            return self.hardtanh(node, x, a["min_val"], a["max_val"], inplace)
        if canon in ("clamp", "clamp_min"):
            lo, hi = a.get("min"), a.get("max")
            if lo == 0 and hi is None:
                return self.emit(node, "relu", [], [self.tensor_arg(x)], inplace=inplace)
            if lo == 0 and hi == 6:
                return self.emit(node, "relu6", [], [self.tensor_arg(x)], inplace=inplace)
            if lo is not None and hi is not None:
                return self.hardtanh(node, x, lo, hi, inplace)
            raise NodeError("clamp(min=%r, max=%r) has no .net equivalent (only min=0 (relu) "
                            "and min=0, max=6 (relu6), or both bounds (hardtanh))" % (lo, hi))
        if canon == "leaky_relu":
            return self.leaky_relu(node, x, a["negative_slope"], inplace)
        if canon == "softmax":
            if a["dtype"] is not None:
                raise NodeError("dtype=%s is not supported" % a["dtype"])
            return self.softmax(node, x, a["dim"])
        if canon == "dropout":
            if a["training"]:
                self.warn(node, "training=True drops even in eval mode (pass training=self.training); "
                                "exported as dropout, which is the identity")
            return self.dropout(node, x, a["p"], inplace)
        if canon == "max_pool2d":
            return self.maxpool(node, x, a["kernel_size"], a["stride"], a["padding"], a["dilation"],
                                a["ceil_mode"], a["return_indices"])
        if canon == "avg_pool2d":
            return self.avgpool(node, x, a["kernel_size"], a["stride"], a["padding"], a["ceil_mode"],
                                a["count_include_pad"], a["divisor_override"])
        if canon == "adaptive_avg_pool2d":
            return self.adaptive(node, x, a["output_size"], "avg")
        if canon == "adaptive_max_pool2d":
            if a["return_indices"]:
                raise NodeError("return_indices=True has no .net equivalent")
            return self.adaptive(node, x, a["output_size"], "max")
        if canon == "flatten":
            return self.flatten(node, x, a["start_dim"], a["end_dim"])
        if canon == "reshape":
            return self.reshape(node, x)
        if canon == "alias":
            return self.tensor_arg(x)
        if canon == "add":
            return self.add(node, x, a["other"], a["alpha"], inplace)
        if canon == "cat":
            return self.cat(node, a["tensors"], a["dim"])
        if canon == "mean":
            return self.mean(node, x, a["dim"], a["dtype"])
        raise AssertionError(canon)

    # -- the ops ----------------------------------------------------------------

    def hardtanh(self, node, x, lo, hi, inplace):
        """hardtanh(0, 6) is relu6; any other range is hardtanh."""
        if (lo, hi) == (0, 6):
            return self.emit(node, "relu6", [], [self.tensor_arg(x)], inplace=inplace)
        attrs = []
        if lo != -1.0:
            attrs.append(("min", _fmt_float(lo, "min_val")))
        if hi != 1.0:
            attrs.append(("max", _fmt_float(hi, "max_val")))
        return self.emit(node, "hardtanh", attrs, [self.tensor_arg(x)], inplace=inplace)

    def pad(self, node, x, pad, mode, value):
        """F.pad of H and W: (left, right[, top, bottom]), any mode."""
        v, _ = self._spatial(x)
        pad = list(pad)
        if len(pad) not in (2, 4) or not all(isinstance(p, int) and p >= 0 for p in pad):
            raise NodeError("pad=%r: only non-negative padding of W, or of W and H, has a .net equivalent" % (pad,))
        l, r, t, b = (pad + [0, 0])[:4]
        modes = {"constant": "constant", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}
        if mode not in modes:
            raise NodeError("mode=%r has no .net equivalent" % (mode,))
        attrs = [("padding", "%d,%d,%d,%d" % (t, b, l, r))]
        if mode != "constant":
            attrs.append(("mode", mode))
        elif value:
            attrs.append(("value", _fmt_float(value, "value")))
        return self.emit(node, "pad", attrs, [v])

    def upsample(self, node, x, mode, align_corners):
        """Upsampling by whole factors, judged by the shapes before and after."""
        v, (h, w) = self._spatial(x)
        oh, ow = _shape(node)[2:]
        if oh % h or ow % w:
            raise NodeError("resizes %dx%d to %dx%d; only whole upsampling factors have a .net "
                            "equivalent" % (h, w, oh, ow))
        if mode not in ("nearest", "bilinear"):
            raise NodeError("mode=%r has no .net equivalent (nearest or bilinear)" % (mode,))
        fh, fw = oh // h, ow // w
        attrs = [("factor", _fmt_pair((fh, fw)))]
        if mode == "bilinear":
            attrs.append(("mode", "bilinear"))
            if align_corners:
                attrs.append(("align_corners", "true"))
        return self.emit(node, "upsample", attrs, [v])

    def _temporal(self, x):
        """The Val and L of an input that must be (1, C, L)."""
        v = self.tensor_arg(x)
        s = _shape(x)
        if len(s) != 3:
            raise NodeError("needs an (N, C, L) input, got shape %s" % (tuple(s),))
        return v, s[2]

    @staticmethod
    def _one(v, what):
        """A 1-D module's int or 1-tuple argument."""
        if isinstance(v, (tuple, list)):
            if len(v) != 1:
                raise NodeError("%s=%r: a 1-D op takes one number" % (what, v))
            v = v[0]
        return int(v)

    def pool1d(self, node, x, op, k, s, p, d, ceil_mode, count_include_pad):
        """maxpool1d and avgpool1d with every non-default argument."""
        v, _ = self._temporal(x)
        k = self._one(k, "kernel_size")
        s = k if s is None or s == [] or s == () else self._one(s, "stride")
        p, d = self._one(p, "padding"), self._one(d, "dilation")
        attrs = [("kernel", str(k))]
        if s != k:
            attrs.append(("stride", str(s)))
        if p:
            attrs.append(("padding", str(p)))
        if d != 1:
            attrs.append(("dilation", str(d)))
        if ceil_mode:
            attrs.append(("ceil_mode", "true"))
        if op == "avgpool1d" and not count_include_pad:
            attrs.append(("count_include_pad", "false"))
        return self.emit(node, op, attrs, [v])

    def adaptive1d(self, node, x, size, kind):
        """Adaptive 1-D pooling to 1 is global; to a divisor of L, a fixed pool."""
        v, n = self._temporal(x)
        size = self._one(size, "output_size")
        if size == 1:
            return self.emit(node, "global%spool1d" % kind, [], [v])
        if n % size:
            raise NodeError("adaptive pooling from %d to %d has windows of unequal sizes" % (n, size))
        return self.emit(node, "%spool1d" % kind, [("kernel", str(n // size))], [v])

    def pixelshuffle(self, node, x, r):
        """nn.PixelShuffle."""
        v, _ = self._spatial(x)
        return self.emit(node, "pixelshuffle", [("factor", str(int(r)))], [v])

    def gelu(self, node, x, approximate):
        """gelu, erf or tanh form."""
        if approximate not in ("none", "tanh"):
            raise NodeError("approximate=%r has no .net equivalent (none or tanh)" % (approximate,))
        attrs = [] if approximate == "none" else [("approximate", "tanh")]
        return self.emit(node, "gelu", attrs, [self.tensor_arg(x)])

    def elu(self, node, x, alpha, inplace):
        """elu, writing alpha only when it is not the default."""
        attrs = [] if alpha == 1.0 else [("alpha", _fmt_float(alpha, "alpha"))]
        return self.emit(node, "elu", attrs, [self.tensor_arg(x)], inplace=inplace)

    def mul(self, node, x, y, inplace):
        """Product of two tensors of one shape, or a (1, C, 1, 1) gate times (1, C, H, W)."""
        if not isinstance(x, torch.fx.Node) or not isinstance(y, torch.fx.Node):
            raise NodeError("multiplies by a constant (%r); .net mul takes two tensors"
                            % (y if isinstance(x, torch.fx.Node) else x))
        a, b = self.tensor_arg(x), self.tensor_arg(y, "second input")
        sa, sb = tuple(_shape(x)), tuple(_shape(y))
        gate = lambda g, t: len(g) == len(t) and len(g) in (3, 4) and g[1] == t[1] and all(d == 1 for d in g[2:])
        if not (sa == sb or gate(sa, sb) or gate(sb, sa)):
            raise NodeError("multiplies shapes %s and %s; .net mul needs equal shapes or a (1, C, 1, 1) "
                            "gate" % (sa, sb))
        if inplace and tuple(_shape(node)) != sa:
            inplace = False
        return self.emit(node, "mul", [], [a, b], inplace=inplace)

    def leaky_relu(self, node, x, slope, inplace):
        """leakyrelu, writing the slope only when it is not the default."""
        attrs = [] if slope == 0.01 else [("slope", _fmt_float(slope, "negative_slope"))]
        return self.emit(node, "leakyrelu", attrs, [self.tensor_arg(x)], inplace=inplace)

    def softmax(self, node, x, dim):
        """The language's softmax is over channels: dim 1 of NCHW or (1, N)."""
        v = self.tensor_arg(x)
        rank = len(_shape(x))
        if dim is None:
            dim = 1  # PyTorch's legacy choice for 2-D and 4-D inputs
        if not isinstance(dim, int) or dim % rank != 1:
            raise NodeError("softmax over dim=%r of a %d-D tensor: the language's softmax is over "
                            "channels (dim=1)" % (dim, rank))
        return self.emit(node, "softmax", [], [v])

    def dropout(self, node, x, p, inplace):
        """Dropout is the identity in eval mode; kept so names stay PyTorch's."""
        attrs = [] if p == 0.5 else [("p", _fmt_float(p, "p"))]
        return self.emit(node, "dropout", attrs, [self.tensor_arg(x)], inplace=inplace)

    def _spatial(self, x):
        """The Val and (H, W) of an input that must be NCHW."""
        v = self.tensor_arg(x)
        s = _shape(x)
        if len(s) != 4:
            raise NodeError("needs an NCHW input, got shape %s" % (tuple(s),))
        return v, s[2:]

    def maxpool(self, node, x, k, s, p, d, ceil_mode, return_indices):
        """maxpool2d with every non-default argument written out."""
        if return_indices:
            raise NodeError("return_indices=True has no .net equivalent")
        v, _ = self._spatial(x)
        k = _pair(k, "kernel_size")
        s = k if s is None or s == [] or s == () else _pair(s, "stride")
        p, d = _pair(p, "padding"), _pair(d, "dilation")
        attrs = [("kernel", _fmt_pair(k))]
        if s != k:
            attrs.append(("stride", _fmt_pair(s)))
        if p != (0, 0):
            attrs.append(("padding", _fmt_pair(p)))
        if d != (1, 1):
            attrs.append(("dilation", _fmt_pair(d)))
        if ceil_mode:
            attrs.append(("ceil_mode", "true"))
        return self.emit(node, "maxpool2d", attrs, [v])

    def avgpool(self, node, x, k, s, p, ceil_mode, count_include_pad, divisor):
        """avgpool2d, or sumpool2d for divisor_override=1."""
        v, hw = self._spatial(x)
        k = _pair(k, "kernel_size")
        s = k if s is None or s == [] or s == () else _pair(s, "stride")
        p = _pair(p, "padding")
        op = "avgpool2d"
        if divisor is not None:
            if divisor == 1:
                op = "sumpool2d"
            elif divisor == k[0] * k[1]:
                # The same as count_include_pad=True unless a ceil_mode window
                # hangs off the padded input, where PyTorch counts less.
                out = _shape(node)[2:]
                if any((o - 1) * st + kk > n + 2 * pp for o, st, kk, n, pp in zip(out, s, k, hw, p)):
                    raise NodeError("divisor_override=%d with a ceil_mode window past the padding has "
                                    "no .net equivalent" % divisor)
                count_include_pad = True
            else:
                raise NodeError("divisor_override=%r has no .net equivalent (only 1, which is sumpool2d, "
                                "or the kernel area)" % divisor)
        attrs = [("kernel", _fmt_pair(k))]
        if s != k:
            attrs.append(("stride", _fmt_pair(s)))
        if p != (0, 0):
            attrs.append(("padding", _fmt_pair(p)))
        if ceil_mode:
            attrs.append(("ceil_mode", "true"))
        if op == "avgpool2d" and not count_include_pad:
            attrs.append(("count_include_pad", "false"))
        return self.emit(node, op, attrs, [v])

    def adaptive(self, node, x, size, kind):
        """Adaptive pooling is a fixed pool only when sizes divide evenly."""
        v, (h, w) = self._spatial(x)
        if isinstance(size, int):
            size = (size, size)
        oh, ow = (h if size[0] is None else size[0]), (w if size[-1] is None else size[-1])
        if (oh, ow) == (1, 1):
            return self.emit(node, "global%spool2d" % kind, [], [v])
        if h % oh or w % ow:
            raise NodeError("adaptive pooling from %dx%d to %dx%d has windows of unequal sizes; "
                            "it translates only when the output size divides the input size" % (h, w, oh, ow))
        k = (h // oh, w // ow)
        return self.emit(node, "%spool2d" % kind, [("kernel", _fmt_pair(k))], [v])

    def mean(self, node, x, dim, dtype):
        """x.mean((2, 3)) is global average pooling; x.mean(2) of (1, C, L) too."""
        if _shape(x) is not None and len(_shape(x)) == 3:
            v = self.tensor_arg(x)
            dims = dim if isinstance(dim, (tuple, list)) else [dim]
            if dtype is not None or [d % 3 for d in dims if isinstance(d, int)] != [2]:
                raise NodeError("only the mean over L (dim=2) of a (1, C, L) tensor has a .net equivalent")
            return self.emit(node, "globalavgpool1d", [], [v])
        v, _ = self._spatial(x)
        dims = dim if isinstance(dim, (tuple, list)) else [dim]
        if dtype is not None or sorted(d % 4 for d in dims if isinstance(d, int)) != [2, 3]:
            raise NodeError("only the mean over H and W (dim=(2, 3)) has a .net equivalent "
                            "(globalavgpool2d), got dim=%r" % (dim,))
        return self.emit(node, "globalavgpool2d", [], [v])

    def flatten(self, node, x, start, end):
        """Only flatten(x, 1) of an NCHW tensor has a .net equivalent."""
        v = self.tensor_arg(x)
        rank = len(_shape(x))
        start, end = start % rank, end % rank
        if rank == 2 and start <= 1 <= end and start >= 1:
            return v  # (1, N) is flat already
        if start == 0:
            raise NodeError("start_dim=0 flattens the batch axis too; use torch.flatten(x, 1)")
        if rank == 3 and (start, end) == (1, 2):
            return self.emit(node, "flatten", [], [v])
        if rank != 4 or (start, end) != (1, 3):
            raise NodeError("flattening dims %d..%d of a %d-D tensor keeps axes the language has no "
                            "tensor for; only torch.flatten(x, 1) translates" % (start, end, rank))
        return self.emit(node, "flatten", [], [v])

    def reshape(self, node, x):
        """view/reshape, judged by the shapes before and after, not by the arguments."""
        v = self.tensor_arg(x)
        src, dst = _shape(x), _shape(node)
        if dst == src:
            return v
        if dst is not None and len(dst) == 2 and dst[0] == 1:
            return v if len(src) == 2 else self.emit(node, "flatten", [], [v])
        if dst is not None and len(dst) == 4 and dst[0] == 1 and dst[2:] == (1, 1) \
                and _net_shape(src) == _net_shape(dst):
            return v  # (1, N) -> (1, N, 1, 1): the same Nx1x1 tensor
        raise NodeError("reshapes %s to %s; only flattening to (batch, C*H*W), as in "
                        "x.view(x.size(0), -1), has a .net equivalent" % (tuple(src), dst and tuple(dst)))

    def add(self, node, x, y, alpha, inplace):
        """Elementwise sum of two tensors of one shape (no broadcasting)."""
        if not isinstance(x, torch.fx.Node) or not isinstance(y, torch.fx.Node):
            raise NodeError("adds a constant (%r); .net add takes tensors only"
                            % (y if isinstance(x, torch.fx.Node) else x))
        if alpha != 1:
            raise NodeError("alpha=%r has no .net equivalent" % alpha)
        a, b = self.tensor_arg(x), self.tensor_arg(y, "second input")
        if _shape(x) != _shape(y):
            raise NodeError("adds shapes %s and %s; .net add needs equal shapes (no broadcasting)"
                            % (tuple(_shape(x)), tuple(_shape(y))))
        return self.emit(node, "add", [], [a, b], inplace=inplace)

    def cat(self, node, tensors, dim):
        """torch.cat along channels."""
        if not isinstance(tensors, (tuple, list)) or not tensors:
            raise NodeError("needs a list of tensors")
        vals = [self.tensor_arg(t, "input %d" % i) for i, t in enumerate(tensors)]
        ranks = {len(_shape(t)) for t in tensors}
        rank = ranks.pop()
        if ranks or not isinstance(dim, int) or dim % rank != 1:
            raise NodeError("concatenates along dim=%r; .net concat is along channels (dim=1)" % (dim,))
        if len(vals) == 1:
            return vals[0]
        return self.emit(node, "concat", [], vals)

    # -- modules -----------------------------------------------------------------

    def m_conv(self, node, m):
        """nn.Conv2d, every argument; padding='same' as explicit numbers."""
        v, hw = self._spatial(node.args[0])
        k, d = m.kernel_size, m.dilation
        if isinstance(m.padding, str):
            if m.padding == "valid":
                pads = (0, 0, 0, 0)
            else:
                # PyTorch's 'same' (stride 1): total d*(k-1), the smaller half
                # on top/left and the extra on bottom/right (checked against
                # torch for even kernels). Written out, not as `same`.
                th, tw = d[0] * (k[0] - 1), d[1] * (k[1] - 1)
                pads = (th // 2, th - th // 2, tw // 2, tw - tw // 2)
        else:
            pads = (m.padding[0], m.padding[0], m.padding[1], m.padding[1])
        attrs = [("out", str(m.out_channels)), ("kernel", _fmt_pair(k))]
        if tuple(m.stride) != (1, 1):
            attrs.append(("stride", _fmt_pair(m.stride)))
        if any(pads):
            attrs.append(("padding", _fmt_pads(*pads)))
        if tuple(d) != (1, 1):
            attrs.append(("dilation", _fmt_pair(d)))
        attrs += _conv_keys(m)
        return self.emit(node, "conv2d", attrs, [v], self._tensors(node, m, ["weight", "bias"]))

    def m_linear(self, node, m):
        """nn.Linear, which the language applies to flat tensors only."""
        v = self.tensor_arg(node.args[0])
        if len(_shape(node.args[0])) != 2:
            raise NodeError("Linear on a %d-D tensor acts on its last axis; flatten first "
                            "(torch.flatten(x, 1))" % len(_shape(node.args[0])))
        attrs = [("out", str(m.out_features))]
        if m.bias is None:
            attrs.append(("bias", "false"))
        return self.emit(node, "linear", attrs, [v], self._tensors(node, m, ["weight", "bias"]))

    def m_batchnorm(self, node, m):
        """BatchNorm2d on NCHW, or BatchNorm1d on (1, N): both are batchnorm2d."""
        v = self.tensor_arg(node.args[0])
        rank = len(_shape(node.args[0]))
        if rank != (4 if isinstance(m, nn.BatchNorm2d) else 2) and not (isinstance(m, nn.BatchNorm1d) and rank == 3):
            raise NodeError("%s on a %d-D tensor has no .net equivalent" % (type(m).__name__, rank))
        op = "batchnorm1d" if rank == 3 else "batchnorm2d"
        if m.running_mean is None or m.running_var is None:
            raise NodeError("track_running_stats=False normalises with batch statistics even in eval "
                            "mode; .net batchnorm2d needs running statistics")
        tensors = self._tensors(node, m, ["weight", "bias", "running_mean", "running_var"])
        if not m.affine:
            # The language's batchnorm always has a scale and shift.
            c = m.num_features
            tensors[0:0] = [("weight", torch.ones(c), None), ("bias", torch.zeros(c), None)]
            self.warn(node, "affine=False: written with weight 1 and bias 0, which cnnc counts as "
                            "%d parameters" % (2 * c))
        attrs = [] if m.eps == 1e-5 else [("eps", _fmt_float(m.eps, "eps"))]
        return self.emit(node, op, attrs, [v], tensors)

    def _tensors(self, node, m, names):
        """[(suffix, tensor, state_dict key)] of a module's present tensors."""
        out = []
        for n in names:
            t = getattr(m, n, None)
            if t is not None:
                out.append((n, t, "%s.%s" % (node.target, n)))
        return out

    def m_maxpool(self, node, m):
        """nn.MaxPool2d, as F.max_pool2d."""
        return self.maxpool(node, node.args[0], m.kernel_size, m.stride, m.padding, m.dilation,
                            m.ceil_mode, m.return_indices)

    def m_avgpool(self, node, m):
        """nn.AvgPool2d, as F.avg_pool2d."""
        return self.avgpool(node, node.args[0], m.kernel_size, m.stride, m.padding, m.ceil_mode,
                            m.count_include_pad, m.divisor_override)

    def m_adaptive_avg(self, node, m):
        """nn.AdaptiveAvgPool2d, as F.adaptive_avg_pool2d."""
        return self.adaptive(node, node.args[0], m.output_size, "avg")

    def m_adaptive_max(self, node, m):
        """nn.AdaptiveMaxPool2d, as F.adaptive_max_pool2d."""
        if m.return_indices:
            raise NodeError("return_indices=True has no .net equivalent")
        return self.adaptive(node, node.args[0], m.output_size, "max")

    def m_flatten(self, node, m):
        """nn.Flatten, as torch.flatten."""
        return self.flatten(node, node.args[0], m.start_dim, m.end_dim)

    def m_dropout(self, node, m):
        """nn.Dropout and its kin, as F.dropout."""
        return self.dropout(node, node.args[0], m.p, getattr(m, "inplace", False))

    def m_identity(self, node, m):
        """nn.Identity: no statement, its input stands for it."""
        return self.tensor_arg(node.args[0])

    def m_act(self, node, m):
        """Activation modules whose op is their name."""
        op = {nn.ReLU: "relu", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.Hardswish: "hardswish",
              nn.Hardsigmoid: "hardsigmoid", nn.SiLU: "silu"}[type(m)]
        return self.emit(node, op, [], [self.tensor_arg(node.args[0])], inplace=getattr(m, "inplace", False))

    def m_hardtanh(self, node, m):
        """nn.ReLU6 and nn.Hardtanh(0, 6)."""
        return self.hardtanh(node, node.args[0], m.min_val, m.max_val, m.inplace)

    def m_gelu(self, node, m):
        """nn.GELU."""
        return self.gelu(node, node.args[0], getattr(m, "approximate", "none"))

    def m_elu(self, node, m):
        """nn.ELU."""
        return self.elu(node, node.args[0], m.alpha, m.inplace)

    def m_prelu(self, node, m):
        """nn.PReLU: its slopes are its weight."""
        v = self.tensor_arg(node.args[0])
        n = m.num_parameters
        if n != 1 and (len(_shape(node.args[0])) < 2 or _shape(node.args[0])[1] != n):
            raise NodeError("num_parameters=%d does not match the input's channels" % n)
        attrs = [] if n == 1 else [("num_parameters", str(n))]
        return self.emit(node, "prelu", attrs, [v], self._tensors(node, m, ["weight"]))

    def m_conv1d(self, node, m):
        """nn.Conv1d, every argument; padding='same' as explicit numbers."""
        v, _ = self._temporal(node.args[0])
        k, d, st = self._one(m.kernel_size, "kernel_size"), self._one(m.dilation, "dilation"), self._one(m.stride,
                                                                                                         "stride")
        if isinstance(m.padding, str):
            total = 0 if m.padding == "valid" else d * (k - 1)
            lo, hi = total // 2, total - total // 2
        else:
            lo = hi = self._one(m.padding, "padding")
        attrs = [("out", str(m.out_channels)), ("kernel", str(k))]
        if st != 1:
            attrs.append(("stride", str(st)))
        if lo or hi:
            attrs.append(("padding", str(lo) if lo == hi else "%d,%d" % (lo, hi)))
        if d != 1:
            attrs.append(("dilation", str(d)))
        attrs += _conv_keys(m)
        return self.emit(node, "conv1d", attrs, [v], self._tensors(node, m, ["weight", "bias"]))

    def m_pool1d(self, node, m):
        """nn.MaxPool1d and nn.AvgPool1d."""
        if isinstance(m, nn.MaxPool1d):
            if m.return_indices:
                raise NodeError("return_indices=True has no .net equivalent")
            return self.pool1d(node, node.args[0], "maxpool1d", m.kernel_size, m.stride, m.padding, m.dilation,
                               m.ceil_mode, True)
        return self.pool1d(node, node.args[0], "avgpool1d", m.kernel_size, m.stride, m.padding, 1, m.ceil_mode,
                           m.count_include_pad)

    def m_adaptive1d(self, node, m):
        """nn.AdaptiveAvgPool1d and nn.AdaptiveMaxPool1d."""
        if isinstance(m, nn.AdaptiveMaxPool1d) and m.return_indices:
            raise NodeError("return_indices=True has no .net equivalent")
        return self.adaptive1d(node, node.args[0], m.output_size,
                               "avg" if isinstance(m, nn.AdaptiveAvgPool1d) else "max")

    def m_convtranspose(self, node, m):
        """nn.ConvTranspose2d, every argument but output_size (fixed by the traced shape anyway)."""
        v, _ = self._spatial(node.args[0])
        if len(node.args) > 1 or node.kwargs:
            raise NodeError("output_size= has no .net equivalent; give output_padding instead")
        if m.padding_mode != "zeros":
            raise NodeError("padding_mode=%r has no .net equivalent for a transposed conv" % (m.padding_mode,))
        k, s = _pair(m.kernel_size, "kernel_size"), _pair(m.stride, "stride")
        p, op, d = _pair(m.padding, "padding"), _pair(m.output_padding, "output_padding"), _pair(m.dilation, "dilation")
        attrs = [("out", str(m.out_channels)), ("kernel", _fmt_pair(k))]
        if s != (1, 1):
            attrs.append(("stride", _fmt_pair(s)))
        if p != (0, 0):
            attrs.append(("padding", _fmt_pair(p)))
        if op != (0, 0):
            attrs.append(("output_padding", _fmt_pair(op)))
        if d != (1, 1):
            attrs.append(("dilation", _fmt_pair(d)))
        if m.groups != 1:
            attrs.append(("groups", str(m.groups)))
        if m.bias is None:
            attrs.append(("bias", "false"))
        return self.emit(node, "convtranspose2d", attrs, [v], self._tensors(node, m, ["weight", "bias"]))

    def m_pad(self, node, m):
        """nn.ZeroPad2d, ConstantPad2d, ReflectionPad2d, ReplicationPad2d."""
        mode = {nn.ZeroPad2d: "constant", nn.ConstantPad2d: "constant", nn.ReflectionPad2d: "reflect",
                nn.ReplicationPad2d: "replicate"}[type(m)]
        return self.pad(node, node.args[0], m.padding, mode, getattr(m, "value", 0.0))

    def m_upsample(self, node, m):
        """nn.Upsample, UpsamplingNearest2d, UpsamplingBilinear2d (align_corners=True)."""
        return self.upsample(node, node.args[0], m.mode, m.align_corners)

    def m_pixelshuffle(self, node, m):
        """nn.PixelShuffle."""
        return self.pixelshuffle(node, node.args[0], m.upscale_factor)

    def m_stochastic_depth(self, node, m):
        """torchvision's StochasticDepth: the identity in eval mode."""
        return self.tensor_arg(node.args[0])

    def m_leaky(self, node, m):
        """nn.LeakyReLU."""
        return self.leaky_relu(node, node.args[0], m.negative_slope, m.inplace)

    def m_softmax(self, node, m):
        """nn.Softmax and nn.Softmax2d (over channels)."""
        return self.softmax(node, node.args[0], -3 if isinstance(m, nn.Softmax2d) else m.dim)


# Exact types only: a subclass may compute something else.
_MODULES = {
    nn.Conv2d: Exporter.m_conv, nn.Linear: Exporter.m_linear,
    nn.BatchNorm2d: Exporter.m_batchnorm, nn.BatchNorm1d: Exporter.m_batchnorm,
    nn.MaxPool2d: Exporter.m_maxpool, nn.AvgPool2d: Exporter.m_avgpool,
    nn.AdaptiveAvgPool2d: Exporter.m_adaptive_avg, nn.AdaptiveMaxPool2d: Exporter.m_adaptive_max,
    nn.Flatten: Exporter.m_flatten, nn.Identity: Exporter.m_identity,
    nn.Dropout: Exporter.m_dropout, nn.Dropout2d: Exporter.m_dropout, nn.AlphaDropout: Exporter.m_dropout,
    nn.ReLU: Exporter.m_act, nn.Sigmoid: Exporter.m_act, nn.Tanh: Exporter.m_act,
    nn.Hardswish: Exporter.m_act, nn.Hardsigmoid: Exporter.m_act, nn.ReLU6: Exporter.m_hardtanh, nn.Hardtanh: Exporter.m_hardtanh,
    nn.LeakyReLU: Exporter.m_leaky, nn.Softmax: Exporter.m_softmax, nn.Softmax2d: Exporter.m_softmax,
    nn.SiLU: Exporter.m_act, nn.GELU: Exporter.m_gelu, nn.ELU: Exporter.m_elu, nn.PReLU: Exporter.m_prelu,
    nn.ZeroPad2d: Exporter.m_pad, nn.ConstantPad2d: Exporter.m_pad, nn.ReflectionPad2d: Exporter.m_pad,
    nn.ReplicationPad2d: Exporter.m_pad, nn.Upsample: Exporter.m_upsample,
    nn.UpsamplingNearest2d: Exporter.m_upsample, nn.UpsamplingBilinear2d: Exporter.m_upsample,
    nn.PixelShuffle: Exporter.m_pixelshuffle, nn.ConvTranspose2d: Exporter.m_convtranspose,
    nn.Conv1d: Exporter.m_conv1d, nn.MaxPool1d: Exporter.m_pool1d, nn.AvgPool1d: Exporter.m_pool1d,
    nn.AdaptiveAvgPool1d: Exporter.m_adaptive1d, nn.AdaptiveMaxPool1d: Exporter.m_adaptive1d,
}
try:  # pragma: no cover - depends on the machine
    from torchvision.ops import StochasticDepth as _StochasticDepth
    _MODULES[_StochasticDepth] = Exporter.m_stochastic_depth
except ImportError:  # pragma: no cover
    pass
if hasattr(nn, "Dropout1d"):
    _MODULES[nn.Dropout1d] = Exporter.m_dropout


def _hashable(x):
    """Whether x can be a dict key (fx targets are callables, usually)."""
    try:
        hash(x)
        return True
    except TypeError:
        return False


# ---------------------------------------------------------------------------
# Naming, checking, writing
# ---------------------------------------------------------------------------

def _ident(path):
    """A module path as a .net name: odd characters become _, and a path
    starting with a digit (the children of a root nn.Sequential) gets _."""
    s = re.sub(r"[^A-Za-z0-9_.]", "_", path)
    return s if _IDENT.match(s) else "_" + s


def live_statements(ex):
    """The statements the outputs depend on, in order; the rest is dropped
    (with a warning when a module with weights is left out)."""
    live = set()
    todo = list(ex.outputs)
    while todo:
        st = todo.pop()
        if id(st) not in live:
            live.add(id(st))
            todo.extend(st.inputs)
    kept = []
    for st in ex.stmts:
        if id(st) in live or st is ex.input_stmt:
            kept.append(st)
        elif st.tensors:
            ex.warnings.append("%s: does not reach the output; left out" % ex._where(st.node))
    return kept


def assign_names(model, stmts, input_name):
    """Names every statement: module paths (path_1... for further calls of
    one module), SCOPE.op for functional ops inside a submodule, and the
    language's own <op>_<n> (left unwritten) for those at the top level."""
    reserved = {_ident(p) for p, _ in model.named_modules() if p}
    used = set()

    def fresh(base, own=None):
        """base, or base_1, base_2...: the first not taken nor another module's path."""
        for c in itertools.chain([base], ("%s_%d" % (base, i) for i in itertools.count(1))):
            if c not in used and (c == own or c not in reserved):
                used.add(c)
                return c

    stmts[0].name = fresh(input_name if _C_IDENT.match(input_name) else "x")
    counts = {}
    renamed = []
    for st in stmts[1:]:
        counts[st.op] = counts.get(st.op, 0) + 1
        if st.path is not None:
            st.name = fresh(_ident(st.path), own=_ident(st.path))
            if st.tensors and _ident(st.path) != st.path and st.call == 0:
                renamed.append("%s as %s" % (st.path, st.name))
        elif st.scope:
            st.name = fresh("%s.%s" % (_ident(st.scope), st.op))
        else:
            auto = "%s_%d" % (st.op, counts[st.op])
            if auto not in used and auto not in reserved:
                used.add(auto)
                st.name, st.explicit = auto, False
            else:
                st.name = fresh(st.op)
    if renamed:
        return ["module paths that are not .net names are written %s, and so are their tensors' names "
                "(%s.weight...)" % (_few(renamed, 3), renamed[0].split(" as ")[1])]
    return []


def count_params(stmts):
    """Parameters as cnnc counts them (language.md, 'What is counted')."""
    n = 0
    for st in stmts:
        for suffix, t, _ in st.tensors:
            if suffix in ("weight", "bias"):
                n += t.numel()
    return n


def _param_gap(model, stmts):
    """Why the counts differ: modules with weights that no statement uses
    (an eval-mode forward skips them), and modules called more than once."""
    used = {st.path for st in stmts if st.path is not None}
    owners = [p for p, m in model.named_modules() if p and any(True for _ in m.parameters(recurse=False))]
    unused = {p for p in owners if p not in used}

    def all_unused(prefix):
        """Whether no statement uses any weight under this module."""
        return all(o in unused for o in owners if o == prefix or o.startswith(prefix + "."))

    # Name the outermost module whose weights all go unused: aux1, not
    # aux1.conv.conv, aux1.conv.bn, ...
    tops = []
    for p in (o for o in owners if o in unused):
        parts = p.split(".")
        top = next(".".join(parts[:i]) for i in range(1, len(parts) + 1) if all_unused(".".join(parts[:i])))
        if top not in tops:
            tops.append(top)
    again = sorted({st.path for st in stmts if st.call > 0 and st.tensors})
    why = []
    if tops:
        why.append("the traced forward does not use %s" % _few(tops))
    if again:
        why.append("%s %s called more than once and written once per call"
                   % (_few(again), "is" if len(again) == 1 else "are"))
    return ": " + "; ".join(why) if why else ""


def network_name(name):
    """A C identifier for `network`, from the class (lower case) or --name."""
    s = re.sub(r"[^A-Za-z0-9_]", "_", name.lower())
    if not s or s[0].isdigit():
        s = "net_" + s
    return s + "_net" if s in _C_KEYWORDS else s


def net_text(name, stmts, outputs, comment):
    """The .net source: one statement per line, columns aligned, each
    line ending with its output shape."""
    ops = [st.op for st in stmts[1:]]
    wop = max(len(o) for o in ops + ["input"])
    wname = min(max(len(st.name) for st in stmts if st.explicit), 32)
    body = []
    prev = None
    for st in stmts:
        if st.op == "input":
            line = "%-*s %-*s %s" % (wop, "input", wname, st.name, st.attrs[0][1])
            body.append((line, None))
            prev = st
            continue
        parts = []
        if len(st.inputs) > 1 or st.inputs[0] is not prev:
            parts.append("from=" + ",".join(i.name for i in st.inputs))
        parts += ["%s=%s" % kv for kv in st.attrs]
        line = "%-*s %-*s %s" % (wop, st.op, wname, st.name if st.explicit else "", " ".join(parts))
        body.append((line.rstrip(), _disp_shape(_shape(st.node))))
        prev = st
    width = min(max(len(l) for l, _ in body), 78)
    lines = ["# " + c if c else "#" for c in comment]
    lines += ["", "network %s" % name, ""]
    for i, (l, shape) in enumerate(body):
        lines.append("%-*s  # %s" % (width, l, shape) if shape else l)
        if i == 0:
            lines.append("")
    if len(outputs) > 1 or outputs[0] is not stmts[-1]:
        lines += ["", "output " + " ".join(o.name for o in outputs)]
    return "\n".join(lines) + "\n"


def weight_list(model, stmts):
    """[(tensor name, float32 tensor)]: the state_dict's order for tensors
    read straight from it, then the rest (copies for a module called more
    than once, batchnorm's made-up scale and shift) in statement order."""
    order = {k: i for i, k in enumerate(model.state_dict().keys())}
    rows = []
    for si, st in enumerate(stmts):
        for suffix, t, key in st.tensors:
            first = st.call == 0 and key in order
            rank = (0, order[key], 0) if first else (1, si, len(rows))
            rows.append((rank, "%s.%s" % (st.name, suffix), t))
    rows.sort(key=lambda r: r[0])
    return [(n, t.detach().to(torch.float32).contiguous().cpu()) for _, n, t in rows]


def write_safetensors(f, tensors):
    """safetensors by hand: u64 LE header length, a JSON header padded
    with spaces so the data starts 8-byte aligned, raw LE float32 data."""
    header, off = {}, 0
    for name, t in tensors:
        n = t.numel() * 4
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + n]}
        off += n
    text = json.dumps(header, separators=(",", ":")).encode("ascii")
    text += b" " * (-(8 + len(text)) % 8)
    f.write(struct.pack("<Q", len(text)))
    f.write(text)
    for _, t in tensors:
        f.write(t.numpy().astype("<f4", copy=False).tobytes())


def write_files(outdir, name, text, tensors):
    """Writes NAME.net and NAME.safetensors through temporary files that
    are renamed only once both are complete."""
    mask = os.umask(0)
    os.umask(mask)
    temps = []
    try:
        os.makedirs(outdir, exist_ok=True)
        for ext in (".safetensors", ".net"):
            fd, tmp = tempfile.mkstemp(dir=outdir, prefix=".%s" % name, suffix=ext + ".tmp")
            temps.append((tmp, os.path.join(outdir, name + ext)))
            os.fchmod(fd, 0o666 & ~mask)  # mkstemp's 0600 is for secrets
            with os.fdopen(fd, "wb") as f:
                if ext == ".net":
                    f.write(text.encode("utf-8"))
                else:
                    write_safetensors(f, tensors)
        for tmp, final in temps:
            os.replace(tmp, final)
    except OSError as e:
        for tmp, _ in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise ModelError("cannot write to %s: %s" % (outdir, e))
    return [final for _, final in temps]


def export(model, shape, name, source):
    """Traces and translates; returns (.net text, tensors, params)."""
    model = model.float().eval()
    gm = trace(model, shape)
    ex = Exporter(model, gm)
    ex.run()
    if not ex.errors and not ex.outputs:
        ex.errors.append("%s: no output to export" % _where("", model))
    if ex.errors:
        for kind, places in ex.unsupported_uses.items():
            if len(places) > 3:
                ex.errors.append("%d more uses of %s: %s" % (len(places) - 3, kind, _few(places[3:], 4)))
        notes = ["note: " + _OFFER] if ex.unsupported else []
        raise ModelError(*(["warning: " + w for w in ex.warnings] + ex.errors + notes))
    stmts = live_statements(ex)
    ex.warnings += assign_names(model, stmts, ex.input_stmt.node.target)
    params = count_params(stmts)
    model_params = sum(p.numel() for p in model.parameters())
    if params != model_params:
        ex.warnings.append("the .net holds %s parameters, the model %s%s" % (
            format(params, ","), format(model_params, ","), _param_gap(model, stmts)))
    tensors = weight_list(model, stmts)
    comment = [
        "%s: exported by tools/cnnc_export.py from %s" % (name, source),
        "PyTorch %s, input %s; weights %s.safetensors: %d tensors, %s parameters (F32)."
        % (torch.__version__.split("a")[0].split("+")[0], _fmt_shape(shape), name, len(tensors),
           format(params, ",")),
        "Layer names are module paths, so tensor names are the model's state_dict keys.",
    ]
    return net_text(name, stmts, ex.outputs, comment), tensors, params, ex.warnings, len(stmts) - 1


def main(argv=None):
    """Command line; exit status 0, 1 (model) or 2 (usage)."""
    ap = argparse.ArgumentParser(
        prog="cnnc_export.py", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="\n\n".join(__doc__.split("\n\n")[2:-1]),
        epilog="exit status: 0 written, 1 the model cannot be exported, 2 usage error")
    ap.add_argument("model", metavar="MODEL", help="pkg.mod:Class[(ARGS)], file.py:Class[(ARGS)] or checkpoint.pt")
    ap.add_argument("shape", metavar="CxHxW", help="the input's shape, without the batch")
    ap.add_argument("-w", "--weights", metavar="FILE", help="state_dict to load (torch.save'd or .safetensors)")
    ap.add_argument("--name", help="network name (a C identifier); default: the class name in lower case")
    ap.add_argument("-o", "--outdir", metavar="DIR", default=".", help="where NAME.net and NAME.safetensors go")
    ap.add_argument("--seed", type=int, default=0, metavar="N", help="torch seed before building MODEL (default 0)")
    args = ap.parse_args(argv)
    sys.path.insert(0, os.getcwd())
    warnings = []
    try:
        shape = parse_shape(args.shape)
        if args.name is not None and (not _C_IDENT.match(args.name) or args.name in _C_KEYWORDS):
            raise UsageError("--name must be a C identifier, got '%s'" % args.name)
        if os.path.isfile(args.model):
            model, default = load_checkpoint(args.model)
        else:
            model, default = build_from_spec(args.model, args.seed)
        if args.weights:
            load_weights(model, args.weights)
        name = args.name or network_name(default)
        text, tensors, params, warnings, nlayers = export(model, shape, name, args.model)
        for w in warnings:
            print("%s: warning: %s" % (TOOL, w), file=sys.stderr)
        paths = write_files(args.outdir, name, text, tensors)
    except UsageError as e:
        print("%s: error: %s" % (TOOL, e), file=sys.stderr)
        return 2
    except ModelError as e:
        for msg in e.args:
            if msg.startswith(("warning: ", "note: ")):
                print("%s: %s" % (TOOL, msg), file=sys.stderr)
            else:
                print("%s: error: %s" % (TOOL, msg), file=sys.stderr)
        return 1
    print("wrote %s (%d layers) and %s (%d tensors, %s parameters)"
          % (_rel(paths[1]), nlayers, _rel(paths[0]), len(tensors), format(params, ",")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
