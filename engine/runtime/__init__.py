"""Running the pipeline: clock, scheduler, the runtime, tiers and batch jobs
(finalization, reprocessing), streaming emissions, default pipelines, alerts and sinks.

The only part that drives time forward. Never imports views, the API or Streamlit.
"""
