"""Swin Transformer image encoder with APTM's geometry, written for exact key/shape compatibility.

Why not timm: timm 1.0's `SwinTransformer(img_size=(384, 128), window_size=8)` clamps windows per
axis, so stage 3 (24x8 grid) gets 8x8 windows *shifted* by (4, 0) and stage 4 (12x4 grid) gets
(8, 4) windows with a 105-row bias table. APTM uses the original Swin rule: when min(grid) <=
window, the window becomes min(grid) and the block does not shift (stage 3: 8x8 unshifted, stage 4:
4x4 unshifted, 49-row table). Released checkpoints only load exactly under that rule, so this
module implements it, with the original's parameter names:
`patch_embed.{proj,norm}`, `layers.{s}.blocks.{b}.{norm1,attn.{qkv,proj,relative_position_bias_table},
norm2,mlp.{fc1,fc2}}`, `layers.{s}.downsample.{norm,reduction}` at the END of stage s, `norm`.
Buffers `attn.relative_position_index` and (shifted blocks only) `attn_mask` are persistent.
Output: 1 + H/32 * W/32 tokens, the mean of the final-LayerNorm tokens first.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .attention import attend
from .config import VisionConfig


def stage_geometry(grid: tuple[int, int], window: int) -> tuple[int, int]:
    """(window, shift) of a stage under the original Swin rule."""
    if min(grid) <= window:
        return min(grid), 0
    return window, window // 2


def relative_position_index(w: int) -> torch.Tensor:
    """(w*w, w*w) int64: (dy + w-1) * (2w-1) + (dx + w-1) for tokens p, q in row-major order."""
    coords = torch.stack(torch.meshgrid(torch.arange(w), torch.arange(w), indexing="ij")).flatten(1)  # (2, N)
    rel = coords[:, :, None] - coords[:, None, :]                          # (2, N, N)
    return (rel[0] + w - 1) * (2 * w - 1) + (rel[1] + w - 1)


def window_partition(x: torch.Tensor, w: int) -> torch.Tensor:
    """(B, H, W, C) -> (B * nW, w*w, C)."""
    b, h, wd, c = x.shape
    x = x.view(b, h // w, w, wd // w, w, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, w * w, c)


def window_reverse(x: torch.Tensor, w: int, h: int, wd: int) -> torch.Tensor:
    """(B * nW, w*w, C) -> (B, H, W, C)."""
    c = x.shape[-1]
    x = x.view(-1, h // w, wd // w, w, w, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, h, wd, c)


def shift_attn_mask(grid: tuple[int, int], w: int, shift: int) -> torch.Tensor:
    """(nW, w*w, w*w) float: -100 where two tokens of a shifted window come from different regions."""
    h, wd = grid
    labels = torch.zeros(1, h, wd, 1)
    cuts = (slice(0, -w), slice(-w, -shift), slice(-shift, None))
    region = 0
    for hs in cuts:
        for ws in cuts:
            labels[:, hs, ws, :] = region
            region += 1
    lw = window_partition(labels, w).squeeze(-1)                           # (nW, N)
    diff = lw[:, None, :] - lw[:, :, None]                                 # (nW, N, N)
    return diff.ne(0).float() * -100.0


class DropPath(nn.Module):
    """Stochastic depth: drop the residual branch per sample with probability p while training."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)


class WindowAttention(nn.Module):
    def __init__(self, dim: int, heads: int, w: int) -> None:
        super().__init__()
        self.heads, self.w = heads, w
        self.qkv = nn.Linear(dim, 3 * dim)        # rows [q; k; v], heads contiguous inside each
        self.proj = nn.Linear(dim, dim)
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * w - 1) ** 2, heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.register_buffer("relative_position_index", relative_position_index(w))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        bw, n, c = x.shape                                                  # (B*nW, N, C)
        qkv = self.qkv(x).view(bw, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)                                             # each (B*nW, h, N, d)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        bias = bias.view(n, n, self.heads).permute(2, 0, 1)                 # (h, N, N)
        if mask is not None:
            nw = mask.shape[0]
            bias = bias[None, None] + mask[None, :, None].to(bias.dtype)   # (1, nW, h, N, N)
            q, k, v = (t.view(bw // nw, nw, self.heads, n, -1) for t in (q, k, v))
        out = attend(q, k, v, bias.to(q.dtype))
        return self.proj(out.reshape(bw, self.heads, n, -1).transpose(1, 2).reshape(bw, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class SwinBlock(nn.Module):
    def __init__(self, dim: int, heads: int, grid: tuple[int, int], w: int, shift: int,
                 mlp_ratio: float, drop_path: float) -> None:
        super().__init__()
        self.grid, self.w, self.shift = grid, w, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, heads, w)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        # A non-shifted block has no mask; registering None keeps it out of the state dict.
        self.register_buffer("attn_mask", shift_attn_mask(grid, w, shift) if shift else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, c = x.shape                                                   # (B, H*W, C)
        h, wd = self.grid
        y = self.norm1(x).view(b, h, wd, c)
        if self.shift:
            y = torch.roll(y, shifts=(-self.shift, -self.shift), dims=(1, 2))
        y = self.attn(window_partition(y, self.w), self.attn_mask)          # (B*nW, N, C)
        y = window_reverse(y, self.w, h, wd)                                # (B, H, W, C)
        if self.shift:
            y = torch.roll(y, shifts=(self.shift, self.shift), dims=(1, 2))
        x = x + self.drop_path(y.reshape(b, h * wd, c))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchMerging(nn.Module):
    """2x2 neighbours concatenated (even,even), (odd,even), (even,odd), (odd,odd); norm; reduce to 2C."""

    def __init__(self, dim: int, grid: tuple[int, int]) -> None:
        super().__init__()
        self.grid = grid
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, c = x.shape
        x = x.view(b, self.grid[0], self.grid[1], c)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x.view(b, -1, 4 * c)))              # (B, H*W/4, 2C)


class SwinStage(nn.Module):
    def __init__(self, dim: int, depth: int, heads: int, grid: tuple[int, int], window: int,
                 mlp_ratio: float, drop_paths: list[float], downsample: bool) -> None:
        super().__init__()
        w, shift = stage_geometry(grid, window)
        self.blocks = nn.ModuleList(
            SwinBlock(dim, heads, grid, w, 0 if i % 2 == 0 else shift, mlp_ratio, drop_paths[i])
            for i in range(depth))
        self.downsample = PatchMerging(dim, grid) if downsample else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for blk in self.blocks:
            x = blk(x)
        return self.downsample(x) if self.downsample is not None else x


class PatchEmbed(nn.Module):
    def __init__(self, patch: int, in_chans: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, dim, kernel_size=patch, stride=patch)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x).flatten(2).transpose(1, 2))           # (B, H/p * W/p, C)


class SwinEncoder(nn.Module):
    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.patch_embed = PatchEmbed(cfg.patch_size, cfg.in_chans, cfg.embed_dim)
        grid = (cfg.img_size[0] // cfg.patch_size, cfg.img_size[1] // cfg.patch_size)
        n = sum(cfg.depths)  # stochastic depth grows linearly over all blocks (plain floats: meta-safe)
        dpr = [cfg.drop_path_rate * i / max(n - 1, 1) for i in range(n)]
        stages, start = [], 0
        for s, (depth, heads) in enumerate(zip(cfg.depths, cfg.num_heads)):
            last = s == len(cfg.depths) - 1
            stages.append(SwinStage(cfg.embed_dim * 2 ** s, depth, heads, grid, cfg.window_size,
                                    cfg.mlp_ratio, dpr[start:start + depth], downsample=not last))
            start += depth
            grid = (grid[0] // 2, grid[1] // 2)
        self.layers = nn.ModuleList(stages)
        self.norm = nn.LayerNorm(cfg.width)
        self.apply(_init_weights)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        if tuple(pixels.shape[-2:]) != tuple(self.cfg.img_size):
            raise ValueError(f"expected images of {self.cfg.img_size} (H, W), got {tuple(pixels.shape[-2:])}")
        x = self.patch_embed(pixels)                                        # (B, H0*W0, C0)
        for stage in self.layers:
            x = stage(x)
        x = self.norm(x)                                                    # (B, 48, Cv)
        return torch.cat([x.mean(1, keepdim=True), x], 1)                   # (B, 49, Cv)


def _init_weights(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)
