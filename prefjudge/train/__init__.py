"""Training: QLoRA DPO/SFT with TRL, adapter merge, memory estimates, recipes.

Importing this package is cheap: torch, transformers, trl, peft and bitsandbytes are imported
inside the functions that need them.
"""
