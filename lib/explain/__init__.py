"""归因 (why did it change): a metric's change between two periods, or against the budget, taken apart by
its inputs and by dimension, in contributions that add up to the change (rate and mix for ratios)."""
