//go:build cgo

package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"time"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/whetml/whet/dataset"
	"github.com/whetml/whet/internal/protocol"
	"github.com/whetml/whet/internal/runspec"
	"github.com/whetml/whet/native/bert"
	"github.com/whetml/whet/native/checkpoint"
	"github.com/whetml/whet/native/infer"
	"github.com/whetml/whet/native/torch"
	"github.com/whetml/whet/wasm/metrics"
)

// CheckpointsDir is the sub-folder of OutDir holding checkpoint-<step> folders.
const CheckpointsDir = "checkpoints"

// run is one fine-tuning run's state.
type run struct {
	cfg   Config
	log   *slog.Logger
	dev   gotch.Device
	prec  torch.Precision
	model *bert.Model
	// adapter is the LoRA adapter being trained (nil for full fine-tuning); lora its settings.
	adapter *bert.Adapter
	lora    *LoRAOptions
	mcfg    bert.Config
	base    *checkpoint.Folder
	vocab   []byte
	labels  []string
	index   map[string]int

	train, val       []Example
	trainY, valY     []int
	weights          []float32
	weightT          *ts.Tensor
	opt              *optim
	sched            schedule
	total, perEpoch  int
	step             int
	epoch            float64
	samples          int
	trainTime        time.Duration
	best             *float64
	patienceLeft     int
	bestDir, lastDir string
	bestMetrics      json.RawMessage
	res              *Result
}

// Run fine-tunes a sequence classifier: it loads cfg.ModelDir (or cfg.Resume), trains with AdamW (no decay on
// biases and LayerNorm weights), linear warmup and decay, gradient clipping and accumulation, evaluates on
// cfg.Validation after each epoch (or every EvalEvery steps), keeps the best checkpoint by MetricForBestModel,
// stops early after EarlyStoppingPatience evaluations without improvement, and copies the best checkpoint to
// cfg.OutDir. ctx is checked between optimizer steps; on cancellation a checkpoint is written and ctx's error is
// returned with the partial Result.
//
// # Errors
//
// A bad Config field (named), an unreadable or mismatched model folder (naming the file and tensor), a row the
// model cannot take (naming its source), ctx's error on cancellation, or an I/O error writing checkpoints.
func Run(ctx context.Context, cfg Config) (_ *Result, err error) {
	defer torch.Recover(&err, "train")
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	// libtorch's grad mode is thread-local and goroutines move between threads: stay on one thread so evaluation's
	// NoGrad restores grad mode on the thread it disabled it on.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r := &run{cfg: cfg, log: cfg.Logger, res: &Result{}, patienceLeft: cfg.EarlyStoppingPatience}
	defer r.close()
	if err := r.setup(); err != nil {
		return nil, err
	}
	err = r.loop(ctx)
	r.res.Labels = r.labels
	r.res.GlobalStep = r.step
	r.res.Epoch = r.epoch
	r.res.BestCheckpoint = r.bestDir
	r.res.LastCheckpoint = r.lastDir
	r.res.Metrics = r.bestMetrics
	if r.trainTime > 0 {
		r.res.TrainSamplesPerSecond = float64(r.samples) / r.trainTime.Seconds()
	}
	if err != nil {
		return r.res, err
	}
	if r.bestDir != "" {
		if err := checkpoint.CopyFolder(r.bestDir, cfg.OutDir, OptimizerFile, RNGStateFile); err != nil {
			return r.res, err
		}
		r.log.Info("best checkpoint copied", "from", r.bestDir, "to", cfg.OutDir)
	}
	r.emit(protocol.Event{Type: protocol.EventDone, Metrics: r.bestMetrics, TrainSamplesPerSecond: r.res.TrainSamplesPerSecond})
	return r.res, nil
}

func (r *run) close() {
	if r.opt != nil {
		r.opt.close()
	}
	if r.weightT != nil {
		r.weightT.MustDrop()
	}
	if r.adapter != nil {
		r.adapter.Close()
	}
	if r.model != nil {
		r.model.Close()
	}
}

func (r *run) emit(e protocol.Event) {
	if r.cfg.Progress != nil {
		r.cfg.Progress(e)
	}
}

// setup readies a run: the device and precision, the base (or resumed) model folder, the model and its labels, the
// checked rows, the schedule and the optimizer (restored when resuming).
func (r *run) setup() error {
	dev, err := startDevice(r.cfg.Threads, r.cfg.Seed, r.cfg.Device)
	if err != nil {
		return err
	}
	r.dev = dev
	if r.prec, err = torch.PrecisionFor(r.cfg.Precision, dev); err != nil {
		// The request's fault (fp16 where there is no GPU), reported as the hyperparameter it is.
		return fmt.Errorf("train: config hyperparameter %w", &runspec.FieldError{Name: "precision", Flag: "precision", Msg: err.Error()})
	}
	resumed, startStep, err := r.openBase()
	if err != nil {
		return err
	}
	if err := r.newModel(resumed); err != nil {
		return err
	}
	if err := r.checkRows(); err != nil {
		return err
	}
	return r.plan(startStep)
}

// openBase reads the model folder the run starts from (cfg.ModelDir, or cfg.Resume's checkpoint) into r.base and
// its vocab; with LoRA it settles r.lora. It returns the adapter checkpoint being resumed (nil if none) and the
// step the run starts at.
func (r *run) openBase() (resumed *checkpoint.Adapter, startStep int, err error) {
	cfg := r.cfg
	baseDir := cfg.ModelDir
	if cfg.Resume != "" && checkpoint.IsAdapter(cfg.Resume) {
		if resumed, err = checkpoint.ReadAdapter(cfg.Resume); err != nil {
			return nil, 0, err
		}
		if baseDir == "" {
			baseDir = resumed.Config.BaseModelNameOrPath
		}
		r.lora = &LoRAOptions{LoRA: resumed.Config.LoRA(), BaseName: resumed.Config.BaseModelNameOrPath}
	} else if cfg.LoRA != nil {
		r.lora = cfg.LoRA
	}
	if r.lora != nil && r.lora.BaseName == "" {
		abs, err := filepath.Abs(baseDir)
		if err != nil {
			return nil, 0, err
		}
		r.lora.BaseName = abs
	}
	if cfg.Resume != "" {
		st, err := ReadTrainerState(cfg.Resume)
		if err != nil {
			return nil, 0, err
		}
		startStep = st.GlobalStep
		if resumed == nil {
			baseDir = cfg.Resume
		}
		r.resumeState(st)
	}
	if r.base, err = checkpoint.ReadFolder(baseDir); err != nil {
		return nil, 0, err
	}
	if b, err := os.ReadFile(r.base.VocabPath()); err == nil {
		r.vocab = b
	} else {
		r.log.Warn("model folder has no vocab.txt; checkpoints will have none", "model", baseDir)
	}
	return resumed, startStep, nil
}

// newModel chooses the labels (the base model's when they cover the data, else the data's), builds the classifier
// from the base folder's weights (a fresh head where the labels changed) and, with LoRA, its adapter.
func (r *run) newModel(resumed *checkpoint.Adapter) error {
	base := r.base
	dataLabels := labelsOf(r.cfg.Train, r.cfg.Validation)
	modelLabels := base.Config.Labels()
	if resumed != nil {
		modelLabels = resumed.Labels
	}
	labels, kept := chooseLabels(modelLabels, dataLabels)
	r.labels = labels
	r.index = make(map[string]int, len(labels))
	for i, l := range labels {
		r.index[l] = i
	}
	r.mcfg = base.Config
	r.mcfg.SetLabels(labels)
	r.mcfg.Architectures = []string{bert.ArchSequenceClassification}
	values, rep, err := base.Match(r.mcfg, bert.HeadClassifier, len(labels))
	if err != nil {
		return err
	}
	if !kept && len(base.Config.Labels()) > 0 && !rep.FreshClassifier {
		// Same number of labels, different names: the old head means nothing for the new labels.
		delete(values, "classifier.weight")
		delete(values, "classifier.bias")
		rep.FreshClassifier = true
		rep.FreshReason = fmt.Sprintf("model labels %v do not cover the data's labels %v", base.Config.Labels(), dataLabels)
	}
	r.logMatch(rep)
	r.model, err = bert.New(r.mcfg, bert.Options{Heads: bert.HeadClassifier, NumLabels: len(labels), Device: r.dev, Seed: uint64(r.cfg.Seed)}, values)
	if err != nil {
		return err
	}
	return r.setupLoRA(resumed, len(labels))
}

// labelsOf returns the labels the rows of sets use, sorted as dataset.SortLabels sorts them.
func labelsOf(sets ...[]Example) []string {
	seen := map[string]bool{}
	var labels []string
	for _, set := range sets {
		for _, e := range set {
			if !seen[e.Label] {
				seen[e.Label] = true
				labels = append(labels, e.Label)
			}
		}
	}
	dataset.SortLabels(labels)
	return labels
}

// logMatch logs how the base folder's weights fitted the classifier.
func (r *run) logMatch(rep *checkpoint.Report) {
	if rep.FreshClassifier {
		r.log.Info("classifier head created fresh", "labels", r.labels, "reason", rep.FreshReason)
	}
	if len(rep.Missing) > 0 {
		r.log.Warn("weights missing from the model folder, initialized from scratch", "file", r.base.WeightsFile, "names", rep.Missing)
	}
	if len(rep.Unexpected) > 0 {
		r.log.Warn("weights in the model folder not used by the classifier", "file", r.base.WeightsFile, "names", rep.Unexpected)
	}
	if len(rep.Ignored) > 0 {
		r.log.Info("pretraining heads in the model folder ignored", "count", len(rep.Ignored))
	}
}

// checkRows checks every row fits the model before spending time, and maps the rows' labels to class indices (with
// auto class weights, the weights too).
func (r *run) checkRows() error {
	check := func(set []Example, what string) ([]int, error) {
		ys := make([]int, len(set))
		for i, e := range set {
			if err := r.model.CheckRow(e.InputIDs, e.TypeIDs); err != nil {
				return nil, fmt.Errorf("train: %s row %s: %w", what, sourceOf(e, i), err)
			}
			ys[i] = r.index[e.Label]
		}
		return ys, nil
	}
	var err error
	if r.trainY, err = check(r.cfg.Train, "training"); err != nil {
		return err
	}
	if r.valY, err = check(r.cfg.Validation, "validation"); err != nil {
		return err
	}
	r.train, r.val = r.cfg.Train, r.cfg.Validation
	if r.cfg.ClassWeights == "auto" {
		r.weights = classWeights(r.trainY, len(r.labels))
		if r.weightT, err = bert.Float32Tensor(r.weights, []int64{int64(len(r.labels))}, r.dev); err != nil {
			return err
		}
		r.log.Info("class weights", "labels", r.labels, "weights", r.weights)
	}
	return nil
}

// plan sets the run's length and learning-rate schedule and builds the optimizer, restored from cfg.Resume's
// checkpoint when resuming at startStep.
func (r *run) plan(startStep int) error {
	cfg := r.cfg
	batches := (len(r.train) + cfg.BatchSize - 1) / cfg.BatchSize
	r.perEpoch = (batches + cfg.GradAccum - 1) / cfg.GradAccum
	r.total = r.perEpoch * cfg.Epochs
	if cfg.MaxSteps > 0 {
		r.total = cfg.MaxSteps
	}
	r.sched = newSchedule(cfg.LearningRate, cfg.WarmupRatio, r.total)
	r.step = startStep
	var err error
	if r.opt, err = newOptim(r.trainable(), cfg.WeightDecay, cfg.MaxGradNorm); err != nil {
		return err
	}
	if r.prec == torch.FP16 {
		r.opt.lossScale = initLossScale
	}
	if cfg.Resume != "" {
		if err := r.restore(startStep); err != nil {
			return err
		}
	}
	r.log.Info("training",
		"rows", len(r.train), "validation_rows", len(r.val), "labels", r.labels, "epochs", cfg.Epochs,
		"batch_size", cfg.BatchSize, "grad_accum", cfg.GradAccum, "total_steps", r.total, "warmup_steps", r.sched.warmup,
		"learning_rate", cfg.LearningRate, "weight_decay", cfg.WeightDecay, "seed", cfg.Seed, "runtime", torch.Describe())
	return nil
}

// setupLoRA freezes the model and builds the adapter of a LoRA run (from the resumed checkpoint's values when
// resuming); it counts the trainable and total parameters either way.
func (r *run) setupLoRA(resumed *checkpoint.Adapter, numLabels int) error {
	total := bert.CountParams(r.model.Parameters())
	if r.lora == nil {
		r.res.TrainableParams, r.res.TotalParams = total, total
		return nil
	}
	var values map[string][]float32
	if resumed != nil {
		var err error
		if values, _, err = resumed.Match(r.mcfg, numLabels); err != nil {
			return err
		}
	}
	r.model.Freeze()
	a, err := bert.NewAdapter(r.model, r.lora.LoRA, numLabels, values, uint64(r.cfg.Seed))
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	r.adapter = a
	trainable := bert.CountParams(a.Parameters())
	r.res.TrainableParams, r.res.TotalParams = trainable, total+trainable
	l := a.Config()
	r.log.Info("LoRA: base weights frozen", "r", l.R, "lora_alpha", l.Alpha, "lora_dropout", l.Dropout,
		"target_layers", len(a.Targets()), "trainable_params", trainable, "total_params", total+trainable,
		"trainable_percent", round(100*float64(trainable)/float64(total+trainable), 4))
	return nil
}

// trainable returns the parameters the optimizer updates: the adapter's with LoRA, else the model's.
func (r *run) trainable() []bert.NamedParam {
	if r.adapter != nil {
		return r.adapter.Parameters()
	}
	return r.model.Parameters()
}

func (r *run) loop(ctx context.Context) error {
	cfg := r.cfg
	lengths := make([]int, len(r.train))
	for i, e := range r.train {
		lengths[i] = len(e.InputIDs)
	}
	var accum *ts.Scalar
	if cfg.GradAccum > 1 {
		accum = ts.FloatScalar(float64(cfg.GradAccum))
		defer accum.MustDrop()
	}
	epochs := (r.total + r.perEpoch - 1) / r.perEpoch
	for epoch := 0; epoch < epochs && r.step < r.total; epoch++ {
		batches := planBatches(lengths, cfg.BatchSize, epochRNG(cfg.Seed, epoch))
		for first := 0; first < len(batches) && r.step < r.total; first += cfg.GradAccum {
			group := batches[first:min(first+cfg.GradAccum, len(batches))]
			if epoch*r.perEpoch+first/cfg.GradAccum < r.step {
				continue // resumed: these steps are done
			}
			if err := ctx.Err(); err != nil {
				return r.cancel(err)
			}
			start := time.Now()
			loss, n, err := r.accumulate(group, accum)
			if err != nil {
				return err
			}
			lr := r.sched.lr(r.step)
			if err := r.opt.step(lr); err != nil {
				return err
			}
			r.step++
			r.samples += n
			r.trainTime += time.Since(start)
			r.epoch = float64(epoch) + float64(first+len(group))/float64(len(batches))
			r.res.Losses = append(r.res.Losses, loss)
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				return fmt.Errorf("train: step %d: loss is %g (lower --learning-rate?)", r.step, loss)
			}
			r.emit(protocol.Event{Type: protocol.EventStep, Step: r.step, TotalSteps: r.total, Epoch: r.epoch, Loss: loss, LearningRate: lr,
				SamplesPerSecond: float64(r.samples) / r.trainTime.Seconds()})
			if cfg.EvalEvery > 0 && r.step%cfg.EvalEvery == 0 && r.step < r.total {
				stop, err := r.evalAndSave(ctx)
				if err != nil || stop {
					return err
				}
			}
		}
		if cfg.EvalEvery == 0 || r.step >= r.total {
			if r.step >= r.total {
				r.epoch = min(r.epoch, float64(epoch+1))
			}
			stop, err := r.evalAndSave(ctx)
			if err != nil || stop {
				return err
			}
		}
	}
	return nil
}

// accumulate runs forwardBackward on each batch of one optimizer step and returns their mean loss and row count.
// The losses are summed on the device and read back once: the step's one host sync (on a GPU), for the number the
// step event prints.
func (r *run) accumulate(group [][]int, accum *ts.Scalar) (_ float64, _ int, err error) {
	defer torch.Recover(&err, "train: step %d", r.step+1)
	var sum *ts.Tensor
	defer func() {
		if sum != nil {
			sum.MustDrop()
		}
	}()
	n := 0
	for _, batch := range group {
		l, err := r.forwardBackward(batch, accum)
		if err != nil {
			return 0, 0, err
		}
		n += len(batch)
		if sum == nil {
			sum = l
			continue
		}
		sum = sum.MustAdd(l, true)
		l.MustDrop()
	}
	return sum.MustFloat64Value([]int64{}) / float64(len(group)), n, nil
}

// forwardBackward runs one batch in training mode and accumulates its gradients; it returns the batch loss, a
// detached scalar tensor on the model's device.
func (r *run) forwardBackward(batch []int, accum *ts.Scalar) (*ts.Tensor, error) {
	ids := make([][]int32, len(batch))
	types := make([][]int32, len(batch))
	ys := make([]int64, len(batch))
	hasTypes := false
	for j, i := range batch {
		ids[j] = r.train[i].InputIDs
		types[j] = r.train[i].TypeIDs
		hasTypes = hasTypes || types[j] != nil
		ys[j] = int64(r.trainY[i])
	}
	if !hasTypes {
		types = nil
	} else {
		for j := range types {
			if types[j] == nil {
				types[j] = make([]int32, len(ids[j]))
			}
		}
	}
	b, err := r.model.NewBatch(ids, types)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	defer b.Close()
	target, err := bert.Int64Tensor(ys, []int64{int64(len(ys))}, r.dev)
	if err != nil {
		return nil, err
	}
	defer target.MustDrop()
	logits, err := r.classify(b)
	if err != nil {
		return nil, err
	}
	weight := ts.None
	if r.weightT != nil {
		weight = r.weightT
	}
	loss := logits.MustCrossEntropyLoss(target, weight, ts.ReductionMean, -100, 0, true)
	v := loss.MustDetach(false).MustTotype(gotch.Double, true) // summed in float64, as the losses were on the host
	if accum != nil {
		loss = loss.MustDivScalar(accum, true)
	}
	if r.opt.lossScale > 0 {
		scale := ts.FloatScalar(r.opt.lossScale)
		loss = loss.MustMulScalar(scale, true)
		scale.MustDrop()
	}
	if err := loss.Backward(); err != nil {
		loss.MustDrop()
		v.MustDrop()
		return nil, fmt.Errorf("train: backward: %w", err)
	}
	loss.MustDrop()
	return v, nil
}

// classify runs the training forward pass in the run's precision: under autocast for bf16/fp16 (turned off again
// before the backward pass, as torch.autocast is used), with float32 logits either way.
func (r *run) classify(b *bert.Batch) (*ts.Tensor, error) {
	if r.prec == torch.FP32 {
		return r.model.ClassifyWith(b, r.adapter, true)
	}
	if err := torch.Autocast(r.dev, r.prec); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	logits, err := r.model.ClassifyWith(b, r.adapter, true)
	if err == nil {
		logits = logits.MustTotype(gotch.Float, true)
	}
	if offErr := torch.AutocastOff(r.dev); offErr != nil || err != nil {
		if logits != nil && err == nil {
			logits.MustDrop()
		}
		return nil, fmt.Errorf("train: %w", errors.Join(err, offErr))
	}
	return logits, nil
}

// evaluate runs the validation rows and returns the metrics document (with "loss").
func (r *run) evaluate(ctx context.Context) (json.RawMessage, error) {
	ids := make([][]int32, len(r.val))
	var types [][]int32
	for i, e := range r.val {
		ids[i] = e.InputIDs
		if e.TypeIDs != nil {
			if types == nil {
				types = make([][]int32, len(r.val))
			}
			types[i] = e.TypeIDs
		}
	}
	if types != nil {
		for i := range types {
			if types[i] == nil {
				types[i] = make([]int32, len(ids[i]))
			}
		}
	}
	logits, err := infer.New(r.model, infer.Options{BatchSize: r.cfg.EvalBatchSize, Adapter: r.adapter, Precision: r.prec}).Logits(ctx, ids, types)
	if err != nil {
		return nil, fmt.Errorf("train: evaluate: %w", err)
	}
	in := EvalInput{Labels: r.valY, Predictions: make([]int, len(logits)), Probabilities: make([][]float32, len(logits)), LabelNames: r.labels}
	loss, wsum := 0.0, 0.0
	for i, l := range logits {
		p := protocol.Softmax(l)
		in.Probabilities[i] = p
		in.Predictions[i] = protocol.Argmax(l)
		w := 1.0
		if r.weights != nil {
			w = float64(r.weights[r.valY[i]])
		}
		loss += -w * math.Log(max(float64(p[r.valY[i]]), 1e-30))
		wsum += w
	}
	loss /= max(wsum, 1e-12)
	var doc json.RawMessage
	if r.cfg.Evaluate != nil {
		if doc, err = r.cfg.Evaluate(ctx, in); err != nil {
			return nil, fmt.Errorf("train: evaluate module: %w", err)
		}
	} else {
		rep, err := metrics.Compute(in.Labels, in.Predictions, in.LabelNames)
		if err != nil {
			return nil, fmt.Errorf("train: metrics: %w", err)
		}
		if doc, err = json.Marshal(rep); err != nil {
			return nil, err
		}
	}
	return withLoss(doc, loss)
}

// evalAndSave evaluates (when there are validation rows), tracks the best checkpoint, applies early stopping and
// writes a checkpoint (with the patience left, so a resumed run stops where this one would); it reports whether to
// stop.
func (r *run) evalAndSave(ctx context.Context) (bool, error) {
	var doc json.RawMessage
	isBest := true
	if len(r.val) > 0 {
		var err error
		if doc, err = r.evaluate(ctx); err != nil {
			return false, err
		}
		r.emit(protocol.Event{Type: protocol.EventEval, Step: r.step, Epoch: r.epoch, Metrics: doc})
		v, err := metricValue(doc, r.cfg.MetricForBestModel)
		if err != nil {
			return false, fmt.Errorf("train: --metric-for-best-model: %w", err)
		}
		r.log.Info("evaluation", "step", r.step, "epoch", round(r.epoch, 2), r.cfg.MetricForBestModel, v)
		isBest = better(r.cfg.MetricForBestModel, v, r.best)
		if isBest {
			r.best = &v
		}
	}
	stop := false
	if len(r.val) > 0 && r.cfg.EarlyStoppingPatience > 0 {
		if isBest {
			r.patienceLeft = r.cfg.EarlyStoppingPatience
		} else if r.patienceLeft--; r.patienceLeft <= 0 {
			r.log.Info("early stopping", "step", r.step, "metric", r.cfg.MetricForBestModel, "best", *r.best, "patience", r.cfg.EarlyStoppingPatience)
			r.res.StoppedEarly, stop = true, true
		}
	}
	dir := filepath.Join(r.cfg.OutDir, CheckpointsDir, "checkpoint-"+strconv.Itoa(r.step))
	if isBest {
		r.bestDir, r.bestMetrics = dir, doc
	}
	if err := r.save(dir, doc); err != nil {
		return false, err
	}
	// Prune first: a reader of the checkpoint event finds only the folders that stay.
	r.prune()
	r.emit(protocol.Event{Type: protocol.EventCheckpoint, Step: r.step, Epoch: r.epoch, Path: dir, Metrics: doc, Best: isBest})
	return stop, nil
}

// save writes a checkpoint folder with trainer_state.json.
func (r *run) save(dir string, doc json.RawMessage) error {
	st := TrainerState{GlobalStep: r.step, Epoch: round(r.epoch, 4), Metrics: doc, BestMetric: r.best, BestCheckpoint: r.bestDir,
		MetricForBestModel: r.cfg.MetricForBestModel, TotalSteps: r.total, Seed: r.cfg.Seed}
	if r.cfg.EarlyStoppingPatience > 0 {
		st.PatienceLeft = &r.patienceLeft
	}
	stb, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	rng, err := r.rngState()
	if err != nil {
		return err
	}
	extra := map[string][]byte{TrainerStateFile: append(stb, '\n'), RNGStateFile: rng}
	for name, b := range r.cfg.Files {
		extra[name] = b
	}
	tokCfg := map[string]any{}
	for k, v := range r.base.TokenizerConfig {
		tokCfg[k] = v
	}
	for k, v := range r.cfg.TokenizerConfig {
		tokCfg[k] = v
	}
	if r.adapter != nil {
		err = r.saveAdapter(dir, tokCfg, extra)
	} else {
		var tensors []bert.Tensor
		if tensors, err = r.model.Tensors(); err != nil {
			return err
		}
		err = checkpoint.WriteFolder(dir, checkpoint.SaveOptions{
			Config: r.mcfg, Tensors: tensors, Vocab: r.vocab, DoLowerCase: r.base.DoLowerCase,
			TokenizerConfig: tokCfg, Extra: extra,
		})
	}
	if err != nil {
		return err
	}
	if err := r.opt.save(dir, r.trainable()); err != nil {
		return err
	}
	r.lastDir = dir
	return nil
}

// saveAdapter writes the LoRA adapter as a peft adapter folder with the tokenizer files and extra.
func (r *run) saveAdapter(dir string, tokCfg map[string]any, extra map[string][]byte) error {
	tensors, err := r.adapter.Tensors()
	if err != nil {
		return err
	}
	return checkpoint.WriteAdapter(dir, checkpoint.AdapterSaveOptions{
		Config: checkpoint.NewAdapterConfig(r.lora.LoRA, r.lora.BaseName), Tensors: tensors, Labels: r.labels,
		MaxPositionEmbeddings: r.mcfg.MaxPositionEmbeddings, Vocab: r.vocab, DoLowerCase: r.base.DoLowerCase,
		TokenizerConfig: tokCfg, Extra: extra,
	})
}

// prune removes checkpoints that are neither the best nor the last.
func (r *run) prune() {
	root := filepath.Join(r.cfg.OutDir, CheckpointsDir)
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	var names []string
	for _, e := range entries {
		p := filepath.Join(root, e.Name())
		if e.IsDir() && p != r.bestDir && p != r.lastDir && len(e.Name()) > 11 && e.Name()[:11] == "checkpoint-" {
			names = append(names, p)
		}
	}
	sort.Strings(names)
	for _, p := range names {
		if err := os.RemoveAll(p); err == nil {
			r.log.Debug("checkpoint removed", "path", p)
		}
	}
}

// cancel writes a checkpoint of the current state and returns err (ctx's error).
func (r *run) cancel(err error) error {
	dir := filepath.Join(r.cfg.OutDir, CheckpointsDir, "checkpoint-"+strconv.Itoa(r.step))
	if r.bestDir == "" {
		r.bestDir = dir
	}
	if r.lastDir == dir {
		// This step's checkpoint is already written (cancelled right after an evaluation).
		return err
	}
	if serr := r.save(dir, nil); serr != nil {
		return errors.Join(err, serr)
	}
	r.log.Info("cancelled: checkpoint written", "path", dir, "step", r.step)
	r.emit(protocol.Event{Type: protocol.EventCheckpoint, Step: r.step, Epoch: r.epoch, Path: dir, Best: r.bestDir == dir})
	return err
}
