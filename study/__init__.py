"""Study mode: practice items generated from the stored documents, and each trainee's progress.

Three item types, all generated without an LLM from the structural units the ingest keeps
(`ingest.structure.answer_units`) and the requirements checklist (`ingest.requirements`):
cloze (a figure with its unit, a deadline, a named body, one item of an enumeration blanked out),
true/false (a requirement statement, or one controlled perturbation of it), and multiple choice
(distractors are siblings: the other items of the same enumeration, or the same kind of entity
elsewhere in the corpus). Every item carries its source passage and citation; an item whose answer
is not in its passage, or whose distractor is also a correct answer of the same provision, is never
emitted.

Public API (the CLI, the 学习 tab, tests and benchmarks use only these):
- `study.items`: `Item`, `ItemSource`, `ITEM_TYPES`, `StudyError`, `item_pool(settings)`,
  `generate(settings, ...)`, `violations(items)`.
- `study.progress`: `draw` (a session for a user: prune, weigh, generate), `record`, `weigher`,
  `section_weights`, `missed_ids`, `summary`, `prune`.
- `study.phrasing`: `wanted(settings)`, `rephrase(items, settings, complete)`, `problems(item, rewrite)`:
  the drawn items reworded by a configured LLM where checks prove the checked answer unchanged.
"""
