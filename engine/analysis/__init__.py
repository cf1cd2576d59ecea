"""Analysis on arrays: lateness distributions, completeness estimates, the vectorized
what-if engine and its lab shaping, and the watermark playground's engine.

Works on frames and arrays handed to it; never imports the runtime, the API or views.
"""
