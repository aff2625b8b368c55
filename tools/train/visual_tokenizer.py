"""The visual tokenizer standing in for BEiT's DALL-E dVAE: k-means over 4x4 gray patches.

BEiT pre-trains by predicting, for each masked patch, the discrete token a tokenizer assigns to
it. DALL-E's dVAE is not available here, so the vocabulary is a k-means codebook of the 16 gray
values of a patch (in [0, 1]), fitted on training-set patches; a patch's token is its nearest
centroid. Unlike the dVAE it sees one patch at a time, without context.
"""
import torch


def patches(images, patch=4):
    """uint8 [N, H, W] -> float [N, (H/p)*(W/p), p*p] in [0, 1], row-major patch order (as BEiT's)."""
    n, h, w = images.shape
    x = images.float().div(255.0).view(n, h // patch, patch, w // patch, patch)
    return x.permute(0, 1, 3, 2, 4).reshape(n, (h // patch) * (w // patch), patch * patch)


def fit(images, vocab_size, seed, sample=200_000, iterations=30):
    g = torch.Generator().manual_seed(seed)
    data = patches(images).reshape(-1, 16)
    data = data[torch.randperm(data.shape[0], generator=g)[:sample]]
    unique = torch.unique(data, dim=0)
    centroids = unique[torch.randperm(unique.shape[0], generator=g)[:vocab_size]].clone()
    for _ in range(iterations):
        assign = torch.cdist(data, centroids).argmin(1)
        for k in range(vocab_size):
            members = data[assign == k]
            if len(members) > 0:
                centroids[k] = members.mean(0)
            else:  # re-seed an empty cluster at a random point
                centroids[k] = data[torch.randint(0, data.shape[0], (1,), generator=g)].squeeze(0)
    return centroids


def tokenize(images, centroids, batch=4096):
    """uint8 [N, H, W] -> int64 token ids [N, num_patches]."""
    out = []
    for i in range(0, images.shape[0], batch):
        p = patches(images[i:i + batch])
        out.append(torch.cdist(p, centroids.unsqueeze(0).expand(p.shape[0], -1, -1)).argmin(-1))
    return torch.cat(out)
