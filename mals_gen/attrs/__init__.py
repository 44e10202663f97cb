"""`mals attrs`: mine the 27 MALS attributes from captions (rules), in a run or on any table."""
from .miner import RULES_VERSION, mine_attributes, mine_many

__all__ = ["RULES_VERSION", "mine_attributes", "mine_many"]
