"""The Gradio app's tabs, one module each; `ui.py` composes them and serves.

    state.py         AppState: the assistant, loaded in the background, asked for explicitly
    render.py        HTML shared by the tabs: escaping, the sources card, passages with highlights, CSS/JS
    upload_jobs.py   staged uploads and the background ingest queue (IngestJobs)
    chat.py          问答: the streamed chat, its settings, the sources panel, the `/ask` API handler
    documents.py     文档管理: upload, progress, the corpus table, delete
    requirements.py  要求清单: the filterable checklist, statuses and notes, exports, progress
    study.py         学习: practice items one at a time, feedback with the cited passage, score, review, 再练错题
"""
