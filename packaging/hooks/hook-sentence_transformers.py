"""sentence-transformers: the module classes named in a model's modules.json.

A model folder lists its parts by class path (``sentence_transformers.models.Transformer``,
``...Pooling``, ``...Normalize``) and sentence-transformers imports them by name;
analysis cannot see that. The Hugging Face classes the MiniLM model needs
(BERT) are loaded the same way by ``transformers``' lazy modules.
"""

from PyInstaller.utils.hooks import collect_submodules, copy_metadata

hiddenimports = [
    *collect_submodules("sentence_transformers"),
    *collect_submodules("transformers.models.bert"),
    *collect_submodules("transformers.models.auto"),
]
datas = copy_metadata("sentence-transformers")
