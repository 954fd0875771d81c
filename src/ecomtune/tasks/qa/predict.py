"""`ProductQA`: a Q&A run loaded for use — `ask(product, question)` retrieves the product's other answered
questions, refuses when none matches, else generates an answer from them; yes/no questions also get the yes/no
answerer's verdict (TF-IDF + logistic regression fitted on the run's labelled questions when it loads)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ecomtune.errors import RunDirError
from ecomtune.rundir import loading, open_manifest
from ecomtune.tasks.generate.model import LanguageModel, load_run_lm
from ecomtune.tasks.qa.answer import looks_yes_no, prompt_input, supported
from ecomtune.tasks.qa.context import QAContext


class ProductQA:
    def __init__(self, lm: LanguageModel, index: QAContext, yes_no, manifest: dict, run_dir: Path | None = None):
        self.lm, self.index, self.yes_no, self.manifest, self.run_dir = lm, index, yes_no, manifest, run_dir
        self.context = manifest["context"]
        self.threshold = float(self.context["threshold"])

    @classmethod
    def load(cls, run_dir: str | Path, device: str = "auto") -> ProductQA:
        from ecomtune.backbones import resolve_backbone
        from ecomtune.tasks.qa.yesno import TfidfYesNo, labelled, targets
        from ecomtune.training.device import resolve_device

        run_dir = Path(run_dir)
        manifest = open_manifest(run_dir)
        if manifest.get("task") != "qa":
            raise RunDirError(f"{run_dir} is a {manifest.get('task')} run, not a qa run")
        with loading(run_dir):
            lm = load_run_lm(run_dir, manifest, resolve_device(device))
            knowledge = pd.read_json(run_dir / manifest["knowledge"], lines=True, dtype=False).fillna("")
        c = manifest["context"]
        encoder = None
        if c["method"] == "biencoder":
            from ecomtune.tasks.search.biencoder import BiEncoder

            encoder = BiEncoder.from_pretrained(resolve_backbone("minilm").path)
        index = QAContext(k=c["k"], method=c["method"], threshold=c["threshold"], encoder=encoder).fit(knowledge)
        rows = labelled(knowledge)
        yes_no = TfidfYesNo().fit(rows["question"].tolist(), [""] * len(rows), targets(rows)) \
            if len(set(targets(rows))) == 2 else None
        return cls(lm, index, yes_no, manifest, run_dir)

    def products(self) -> list[str]:
        return sorted(self.index.groups_)

    def ask_many(self, asks: list[dict], **overrides) -> list[dict]:
        """One answer per {"product", "question"}; questions the product's Q&A supports are decoded together."""
        found = [self.index.retrieve(str(a["product"]), str(a["question"])) for a in asks]
        gate = [supported(items, self.threshold) for items in found]
        prompts = [prompt_input(items, a["question"], self.context["budget_chars"])
                   for a, items, g in zip(asks, found, gate) if g]
        settings = self.lm.with_settings(overrides)
        generated = iter(self.lm.generate(prompts, settings) if prompts else [])
        out = []
        for a, items, g in zip(asks, found, gate):
            answer = next(generated) if g else self.context["refusal"]
            verdict = None
            if self.yes_no is not None and looks_yes_no(a["question"]):
                p_yes = float(self.yes_no.predict_proba([a["question"]], [""])[0])
                verdict = {"answer": "yes" if p_yes >= 0.5 else "no", "p_yes": round(p_yes, 4)}
            out.append({"product": str(a["product"]), "question": a["question"], "answer": answer, "supported": g,
                        "known_product": str(a["product"]) in self.index.groups_, "yes_no": verdict,
                        "context": [{"question": i.question, "answer": i.answer, "score": round(i.score, 4)}
                                    for i in items]})
        return out

    def ask(self, product: str, question: str, **overrides) -> dict:
        return self.ask_many([{"product": product, "question": question}], **overrides)[0]

    def predict(self, asks: list[dict]) -> list[dict]:
        return self.ask_many(asks)

    def warmup(self, bucket_size: int = 8) -> None:
        self.lm.generate(["warm up"], self.lm.settings.model_copy(update={"max_new_tokens": 2}))

    def evaluate(self, data=None) -> dict:
        from ecomtune.tasks.qa.evaluate import evaluation_of

        return evaluation_of(self, data)
