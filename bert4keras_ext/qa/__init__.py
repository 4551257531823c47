"""Article 5: end-to-end passage -> answer + question generation (UniLM) with span-constrained answers."""
