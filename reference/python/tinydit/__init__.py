"""TinyDiT reference producer: model, seeded noise, sampler, procedural dataset, export and goldens."""
