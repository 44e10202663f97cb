"""Evaluation: retrieval (R@K, mAP, mINP with ITM re-ranking and fusion) and attribute recognition."""

#: w in the fused ranking ITM_norm + w * ITC_norm: the official code's. Defined here, free of torch,
#: so that the command lines' defaults need no torch import.
ITC_WEIGHT = 0.002
