"""The loss both image towers are trained with against the frozen text tower (LiT)."""

import torch
import torch.nn.functional as F


def info_nce(z, t, scale):
    """Symmetric InfoNCE; identical texts in a batch are positives of each other."""
    logits = scale * z @ t.T
    same = (t @ t.T > 0.999).float()
    target = same / same.sum(1, keepdim=True)
    return 0.5 * (torch.sum(-target * F.log_softmax(logits, 1), 1).mean()
                  + torch.sum(-target * F.log_softmax(logits.T, 1), 1).mean())


def lit_loss(z, captions, bank, folder_label, scale):
    """Instance level: each image's caption among the batch's captions; category level: its
    folder words among all the folder texts of the collection (a fixed text bank; -1 for
    images without a folder)."""
    return info_nce(z, captions, scale) + F.cross_entropy(
        scale * z @ bank.T, folder_label, label_smoothing=0.1, ignore_index=-1)
