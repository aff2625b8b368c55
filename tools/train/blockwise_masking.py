"""BEiT's blockwise masking (paper, Algorithm 1): rectangles of random area and aspect ratio are
masked until the budget is reached, so masked patches come in blocks rather than singly."""
import math
import random

import torch


def blockwise_mask(grid_h, grid_w, num_masked, rng, min_block=4, min_aspect=0.3):
    mask = torch.zeros(grid_h, grid_w, dtype=torch.bool)
    log_aspect = (math.log(min_aspect), math.log(1 / min_aspect))
    count = 0
    while count < num_masked:
        budget = num_masked - count
        added = 0
        for _ in range(10):
            area = rng.uniform(min_block, max(min_block, budget))
            aspect = math.exp(rng.uniform(*log_aspect))
            h = int(round(math.sqrt(area * aspect)))
            w = int(round(math.sqrt(area / aspect)))
            if 0 < h < grid_h and 0 < w < grid_w:
                top, left = rng.randint(0, grid_h - h), rng.randint(0, grid_w - w)
                block = mask[top:top + h, left:left + w]
                new = h * w - int(block.sum())
                if 0 < new <= budget:
                    block.fill_(True)
                    added = new
            if added > 0:
                break
        if added == 0:
            break
        count += added
    return mask.flatten()


def batch_masks(n, grid_h, grid_w, ratio, rng):
    num = int(round(ratio * grid_h * grid_w))
    return torch.stack([blockwise_mask(grid_h, grid_w, num, rng) for _ in range(n)])


def make_rng(seed):
    return random.Random(seed)
