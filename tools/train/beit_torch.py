"""BEiT in PyTorch, written for training here, with Transformers' module and parameter names.

A state_dict of these modules is exactly what Transformers' BeitFor* classes load (same keys,
same shapes), and the math follows Transformers' BEiT: relative position bias (per layer or
shared) with the three CLS entries, layer scale, mean or CLS pooling, the masked-image-modeling
head over all patches, and the UperNet + FCN segmentation heads. Proven against the golden
outputs Transformers produced (tools/train/test_beit_torch.py); only the configurations the
training tools use are supported (no absolute-position interpolation, no attention masks).
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


def _act(name):
    if name == "gelu":
        return nn.GELU()
    if name in ("gelu_new", "gelu_pytorch_tanh"):
        return nn.GELU(approximate="tanh")
    if name == "relu":
        return nn.ReLU()
    raise ValueError(f"hidden_act {name!r} not supported")


def _grid(config):
    size = config["image_size"]
    patch = config["patch_size"]
    return size // patch, size // patch


class DropPath(nn.Module):
    """Stochastic depth: drops a whole residual branch per sample while training."""

    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, x):
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep


class PatchEmbeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        p = config["patch_size"]
        self.projection = nn.Conv2d(config["num_channels"], config["hidden_size"], kernel_size=p, stride=p)

    def forward(self, pixel_values):
        return self.projection(pixel_values).flatten(2).transpose(1, 2)


class Embeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        h = config["hidden_size"]
        self.cls_token = nn.Parameter(torch.zeros(1, 1, h))
        self.mask_token = nn.Parameter(torch.zeros(1, 1, h)) if config.get("use_mask_token") else None
        self.patch_embeddings = PatchEmbeddings(config)
        gh, gw = _grid(config)
        if config.get("use_absolute_position_embeddings"):
            self.position_embeddings = nn.Parameter(torch.zeros(1, gh * gw + 1, h))
        else:
            self.position_embeddings = None

    def forward(self, pixel_values, bool_masked_pos=None):
        x = self.patch_embeddings(pixel_values)
        if bool_masked_pos is not None:
            w = bool_masked_pos.unsqueeze(-1).type_as(x)
            x = x * (1 - w) + self.mask_token.expand_as(x) * w
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        if self.position_embeddings is not None:
            x = x + self.position_embeddings
        return x


def relative_position_index(gh, gw):
    """BEiT's index into the bias table: patch-to-patch offsets, then CLS rows/columns (last 3)."""
    coords = torch.stack(torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous()
    rel[:, :, 0] += gh - 1
    rel[:, :, 1] += gw - 1
    rel[:, :, 0] *= 2 * gw - 1
    num_distances = (2 * gh - 1) * (2 * gw - 1) + 3
    index = torch.zeros(gh * gw + 1, gh * gw + 1, dtype=torch.long)
    index[1:, 1:] = rel.sum(-1)
    index[0, 0:] = num_distances - 3
    index[0:, 0] = num_distances - 2
    index[0, 0] = num_distances - 1
    return index


class RelativePositionBias(nn.Module):
    def __init__(self, config):
        super().__init__()
        gh, gw = _grid(config)
        num_distances = (2 * gh - 1) * (2 * gw - 1) + 3
        self.relative_position_bias_table = nn.Parameter(torch.zeros(num_distances, config["num_attention_heads"]))
        self.register_buffer("index", relative_position_index(gh, gw), persistent=False)

    def forward(self):
        n = self.index.shape[0]
        return self.relative_position_bias_table[self.index.view(-1)].view(n, n, -1).permute(2, 0, 1)


class SelfAttention(nn.Module):
    def __init__(self, config, has_relative_position_bias):
        super().__init__()
        h = config["hidden_size"]
        self.num_heads = config["num_attention_heads"]
        self.head_dim = h // self.num_heads
        self.query = nn.Linear(h, h)
        self.key = nn.Linear(h, h, bias=False)
        self.value = nn.Linear(h, h)
        self.dropout = nn.Dropout(config.get("attention_probs_dropout_prob", 0.0))
        self.relative_position_bias = RelativePositionBias(config) if has_relative_position_bias else None

    def forward(self, x, shared_bias=None):
        b, n, _ = x.shape

        def heads(t):
            return t.view(b, n, self.num_heads, self.head_dim).transpose(1, 2)

        q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim)
        if self.relative_position_bias is not None:
            scores = scores + self.relative_position_bias().unsqueeze(0)
        if shared_bias is not None:
            scores = scores + shared_bias
        probs = self.dropout(scores.softmax(-1))
        return (probs @ v).transpose(1, 2).reshape(b, n, -1), probs


class _Dense(nn.Module):
    """Transformers nests every projection as `<name>.dense`."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.dense = nn.Linear(n_in, n_out)


class Attention(nn.Module):
    def __init__(self, config, has_relative_position_bias):
        super().__init__()
        self.attention = SelfAttention(config, has_relative_position_bias)
        self.output = _Dense(config["hidden_size"], config["hidden_size"])


class Layer(nn.Module):
    def __init__(self, config, drop_path):
        super().__init__()
        h, inner = config["hidden_size"], config["intermediate_size"]
        eps = config.get("layer_norm_eps", 1e-12)
        self.attention = Attention(config, config.get("use_relative_position_bias", False))
        self.intermediate = _Dense(h, inner)
        self.output = _Dense(inner, h)
        self.layernorm_before = nn.LayerNorm(h, eps=eps)
        self.layernorm_after = nn.LayerNorm(h, eps=eps)
        self.act = _act(config.get("hidden_act", "gelu"))
        self.drop_path = DropPath(drop_path)
        self.dropout = nn.Dropout(config.get("hidden_dropout_prob", 0.0))
        scale = config.get("layer_scale_init_value", 0.1)
        if scale > 0:
            self.lambda_1 = nn.Parameter(scale * torch.ones(h))
            self.lambda_2 = nn.Parameter(scale * torch.ones(h))
        else:
            self.lambda_1 = self.lambda_2 = None

    def forward(self, x, shared_bias=None):
        attn, probs = self.attention.attention(self.layernorm_before(x), shared_bias)
        attn = self.dropout(self.attention.output.dense(attn))
        if self.lambda_1 is not None:
            attn = self.lambda_1 * attn
        x = x + self.drop_path(attn)
        y = self.dropout(self.output.dense(self.act(self.intermediate.dense(self.layernorm_after(x)))))
        if self.lambda_2 is not None:
            y = self.lambda_2 * y
        return x + self.drop_path(y), probs


class Encoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        n = config["num_hidden_layers"]
        rates = torch.linspace(0, config.get("drop_path_rate", 0.0), n).tolist()
        self.relative_position_bias = (RelativePositionBias(config)
                                       if config.get("use_shared_relative_position_bias") else None)
        self.layer = nn.ModuleList([Layer(config, rates[i]) for i in range(n)])

    def forward(self, x):
        shared = self.relative_position_bias().unsqueeze(0) if self.relative_position_bias is not None else None
        hidden_states, attentions = [x], []
        for layer in self.layer:
            x, probs = layer(x, shared)
            hidden_states.append(x)
            attentions.append(probs)
        return hidden_states, attentions


class Pooler(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.layernorm = (nn.LayerNorm(config["hidden_size"], eps=config.get("layer_norm_eps", 1e-12))
                          if config.get("use_mean_pooling", True) else None)

    def forward(self, x):
        if self.layernorm is not None:
            return self.layernorm(x[:, 1:, :].mean(1))
        return x[:, 0]


class BeitModel(nn.Module):
    def __init__(self, config, add_pooling_layer=True):
        super().__init__()
        self.config = config
        h = config["hidden_size"]
        self.embeddings = Embeddings(config)
        self.encoder = Encoder(config)
        self.layernorm = (None if config.get("use_mean_pooling", True)
                          else nn.LayerNorm(h, eps=config.get("layer_norm_eps", 1e-12)))
        self.pooler = Pooler(config) if add_pooling_layer else None

    def forward(self, pixel_values, bool_masked_pos=None):
        hidden_states, attentions = self.encoder(self.embeddings(pixel_values, bool_masked_pos))
        last = hidden_states[-1]
        if self.layernorm is not None:
            last = self.layernorm(last)
        pooled = self.pooler(last) if self.pooler is not None else None
        return {"last_hidden_state": last, "pooler_output": pooled, "hidden_states": hidden_states,
                "attentions": attentions}


class BeitForImageClassification(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.beit = BeitModel(config, add_pooling_layer=True)
        self.classifier = nn.Linear(config["hidden_size"], len(config["id2label"]))

    def forward(self, pixel_values):
        out = self.beit(pixel_values)
        out["logits"] = self.classifier(out["pooler_output"])
        return out


class BeitForMaskedImageModeling(nn.Module):
    """Predicts a visual token for every patch (Transformers returns all patches' logits)."""

    def __init__(self, config):
        super().__init__()
        self.beit = BeitModel(config, add_pooling_layer=False)
        self.layernorm = nn.LayerNorm(config["hidden_size"], eps=config.get("layer_norm_eps", 1e-12))
        self.lm_head = nn.Linear(config["hidden_size"], config["vocab_size"])

    def forward(self, pixel_values, bool_masked_pos=None):
        out = self.beit(pixel_values, bool_masked_pos)
        out["logits"] = self.lm_head(self.layernorm(out["last_hidden_state"])[:, 1:])
        return out


class ConvModule(nn.Module):
    """conv (no bias) + BatchNorm + ReLU, as Transformers' BeitConvModule."""

    def __init__(self, n_in, n_out, kernel_size, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(n_in, n_out, kernel_size, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(n_out)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


def _resize(x, size):
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class PyramidPoolingBlock(nn.Sequential):
    def __init__(self, scale, n_in, n_out):
        super().__init__(nn.AdaptiveAvgPool2d(scale), ConvModule(n_in, n_out, 1))


class UperHead(nn.Module):
    def __init__(self, config):
        super().__init__()
        c = config["hidden_size"]
        scales = config["pool_scales"]
        self.psp_modules = nn.ModuleList([PyramidPoolingBlock(s, c, c) for s in scales])
        self.bottleneck = ConvModule(c + len(scales) * c, c, 3, padding=1)
        self.lateral_convs = nn.ModuleList([ConvModule(c, c, 1) for _ in range(3)])
        self.fpn_convs = nn.ModuleList([ConvModule(c, c, 3, padding=1) for _ in range(3)])
        self.fpn_bottleneck = ConvModule(4 * c, c, 3, padding=1)
        self.classifier = nn.Conv2d(c, len(config["id2label"]), 1)

    def forward(self, features):
        top = features[-1]
        psp = [top] + [_resize(m(top), top.shape[2:]) for m in self.psp_modules]
        laterals = [conv(features[i]) for i, conv in enumerate(self.lateral_convs)]
        laterals.append(self.bottleneck(torch.cat(psp, dim=1)))
        for i in range(len(laterals) - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + _resize(laterals[i], laterals[i - 1].shape[2:])
        outs = [self.fpn_convs[i](laterals[i]) for i in range(len(laterals) - 1)] + [laterals[-1]]
        outs = [outs[0]] + [_resize(o, outs[0].shape[2:]) for o in outs[1:]]
        return self.classifier(self.fpn_bottleneck(torch.cat(outs, dim=1)))


class FcnHead(nn.Module):
    def __init__(self, config, in_index=2):
        super().__init__()
        c, aux = config["hidden_size"], config["auxiliary_channels"]
        n = config["auxiliary_num_convs"]
        if config.get("auxiliary_concat_input"):
            raise ValueError("auxiliary_concat_input is not supported by the training tools")
        self.in_index = in_index
        self.convs = nn.Sequential(*[ConvModule(c if i == 0 else aux, aux, 3, padding=1) for i in range(n)])
        self.classifier = nn.Conv2d(aux if n > 0 else c, len(config["id2label"]), 1)

    def forward(self, features):
        return self.classifier(self.convs(features[self.in_index]))


class BeitForSemanticSegmentation(nn.Module):
    """hidden_states[i] feeds the heads when i + 1 is in out_indices (Transformers' rule)."""

    def __init__(self, config):
        super().__init__()
        c = config["hidden_size"]
        self.config = config
        self.beit = BeitModel(config, add_pooling_layer=False)
        self.feature_indices = [i for i in range(config["num_hidden_layers"] + 1) if i + 1 in config["out_indices"]]
        if len(self.feature_indices) not in (3, 4):
            raise ValueError("out_indices must select 3 or 4 hidden states")
        self.fpn1 = nn.Sequential(nn.ConvTranspose2d(c, c, 2, 2), nn.BatchNorm2d(c), nn.GELU(),
                                  nn.ConvTranspose2d(c, c, 2, 2))
        self.fpn2 = nn.Sequential(nn.ConvTranspose2d(c, c, 2, 2))
        self.fpn4 = nn.MaxPool2d(2, 2)
        self.decode_head = UperHead(config)
        self.auxiliary_head = FcnHead(config) if config.get("use_auxiliary_head", True) else None

    def features(self, hidden_states):
        gh, gw = _grid(self.config)
        maps = []
        for i in self.feature_indices:
            x = hidden_states[i][:, 1:, :]
            maps.append(x.permute(0, 2, 1).reshape(x.shape[0], -1, gh, gw))
        ops = [self.fpn1, self.fpn2, nn.Identity(), self.fpn4]
        return [op(m) for op, m in zip(ops, maps)]

    def forward(self, pixel_values):
        out = self.beit(pixel_values)
        feats = self.features(out["hidden_states"])
        out["features"] = feats
        out["logits"] = self.decode_head(feats)
        out["auxiliary_logits"] = self.auxiliary_head(feats) if self.auxiliary_head is not None else None
        return out


def build(config):
    """The model class named by config['architectures'][0]."""
    classes = {
        "BeitForImageClassification": BeitForImageClassification,
        "BeitForMaskedImageModeling": BeitForMaskedImageModeling,
        "BeitForSemanticSegmentation": BeitForSemanticSegmentation,
        "BeitModel": BeitModel,
    }
    return classes[config["architectures"][0]](config)


def load_state(model, tensors):
    """Loads a Transformers state dict; BatchNorm counters are optional, everything else must match."""
    tensors = {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}
    result = model.load_state_dict(tensors, strict=False)
    missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
    if missing or result.unexpected_keys:
        raise ValueError(f"checkpoint mismatch: missing {missing}, unexpected {result.unexpected_keys}")
