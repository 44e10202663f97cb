"""Evaluation: retrieval (R@K, mAP, mINP with ITM re-ranking and fusion) and attribute recognition."""
