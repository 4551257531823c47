"""Task scripts: one per article, plus the tiny BERT pretraining and run_all (the main job)."""
