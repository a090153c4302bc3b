# Two entry points on a fresh clone:
#   make run   - a light virtualenv (no torch) and `vr-env demo` on the embedded synthetic benchmark
#   make test  - a full virtualenv (train + serve + dev + docs extras) and the whole test suite (docs site included)
PYTHON ?= python3
RUN_VENV ?= .venv-run
DEV_VENV ?= .venv
# torch first and pinned: an unpinned resolve pulls a multi-GB CUDA build.
TORCH_PINS = torch==2.14.1 torchvision==0.29.1

.PHONY: run test lint type bench docs clean

$(RUN_VENV)/.installed: setup.py
	$(PYTHON) -m venv $(RUN_VENV)
	$(RUN_VENV)/bin/python -m pip install -q --upgrade pip
	$(RUN_VENV)/bin/python -m pip install -q -e .
	touch $@

$(DEV_VENV)/.installed: setup.py
	$(PYTHON) -m venv $(DEV_VENV)
	$(DEV_VENV)/bin/python -m pip install -q --upgrade pip
	$(DEV_VENV)/bin/python -m pip install -q $(TORCH_PINS)
	$(DEV_VENV)/bin/python -m pip install -q -e ".[train,serve,dev,docs]"
	touch $@

run: $(RUN_VENV)/.installed
	$(RUN_VENV)/bin/vr-env demo --out runs/demo

# The suite runs on both cores (one pytest worker each, one BLAS / torch thread per worker);
# lint and types are part of it (CI runs exactly this).
test: lint type
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 \
		$(DEV_VENV)/bin/python -m pytest -q -n 2

lint: $(DEV_VENV)/.installed
	$(DEV_VENV)/bin/ruff check .
	$(DEV_VENV)/bin/ruff format --check .

type: $(DEV_VENV)/.installed
	$(DEV_VENV)/bin/mypy vr_env agents

# The documentation site into site/ (tests/test_docs.py builds it strictly as part of `make test`).
docs: $(DEV_VENV)/.installed
	$(DEV_VENV)/bin/mkdocs build --strict -d site

bench: $(DEV_VENV)/.installed
	$(DEV_VENV)/bin/python benchmarks/env_step.py
	$(DEV_VENV)/bin/python benchmarks/fuzz_step.py       # 200,000 actions, ~15 min on 2 busy cores
	$(DEV_VENV)/bin/python benchmarks/cold_episode.py
	$(DEV_VENV)/bin/python benchmarks/vector_env.py       # Sync vs Async vector envs, ~6 min on 2 busy cores
	$(DEV_VENV)/bin/python benchmarks/soak.py            # 2,000 episodes per backend, ~35 min on 2 busy cores
	$(DEV_VENV)/bin/python benchmarks/perception_probe.py # where a tiny VLM loses the noise, ~3 min
	$(DEV_VENV)/bin/python benchmarks/grpo_learning.py    # GRPO alone vs an lr = 0 control, ~12 min
	$(DEV_VENV)/bin/python benchmarks/grpo_learning.py --start-pairs 100 --start-answer-now 200 --groups-per-step 4 \
		--eval-pairs 128 --eval-every 8 --tag answer-now  # from a judge that under-uses the tool, ~18 min
	$(DEV_VENV)/bin/python benchmarks/grpo_learning.py --start-pairs 200 --start-answer-now 200 --steps 4 --lr 2e-4 \
		--groups-per-step 16 --eval-every 2 --eval-pairs 128 --tag big-steps  # 16 groups a step: reward above control, held-out diff falls, ~18 min
	$(DEV_VENV)/bin/python benchmarks/grpo_learning.py --start-pairs 200 --start-answer-now 200 --steps 4 --lr 5e-5 \
		--groups-per-step 16 --eval-every 2 --eval-pairs 128 --no-control --tag big-steps-lr5e-5  # the same at lr 5e-5, ~13 min
	$(DEV_VENV)/bin/python benchmarks/grpo_learning.py --groups-per-step 4 --eval-pairs 128 --eval-every 8 --tag 4x8  # ~20 min
	$(DEV_VENV)/bin/python benchmarks/grpo_learning.py --start-pairs 200 --start-answer-now 200 --groups-per-step 4 \
		--eval-pairs 128 --eval-every 8 --tag start200-an-4x8  # a start right on half the pairs, 4 groups a step, ~20 min
	$(DEV_VENV)/bin/python examples/05_mini_vrthinker.py --out runs/mini_vrthinker  # the miniature's table, ~12 min
	$(DEV_VENV)/bin/python benchmarks/grpo_learning.py --model runs/mini_vrthinker/tool/rft --steps 2 --groups-per-step 12 \
		--lr 5e-5 --eval-every 2 --eval-pairs 128 --no-control --shuffled-control --tag example-tool  # vs shuffled advantages, ~15 min
	$(DEV_VENV)/bin/python benchmarks/grpo_learning.py --model runs/mini_vrthinker/tool/rft --steps 2 --groups-per-step 16 \
		--lr 2e-4 --eval-every 2 --eval-pairs 128 --no-control --shuffled-control --tag example-tool-lr2e-4  # a bigger step, ~15 min
	$(DEV_VENV)/bin/python benchmarks/grpo_learning.py --model runs/mini_vrthinker/no_tool/rft --no-tool --steps 2 \
		--groups-per-step 12 --lr 5e-5 --eval-every 2 --eval-pairs 128 --no-control --shuffled-control --tag example-no-tool  # ~6 min

clean:
	rm -rf $(RUN_VENV) $(DEV_VENV) runs build site *.egg-info
