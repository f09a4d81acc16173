"""Large-batch scaling studies (`fer scale run|report`): global batch, LR rules, warmup, LARS/LAMB, throughput.

study.py reads configs/scale/*.yaml; plan.py expands it into points (each a normal `fer fit`); lr_rules.py
holds the arithmetic; warmup.py and recorder.py are the callbacks every point runs with; backends.py runs
points locally or on SLURM; report.py and plots.py turn the points' scale_point.json into CSV, markdown, PNGs.
"""
