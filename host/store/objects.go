package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"

	"github.com/whetml/whet/sdk"
)

// terminal lists the job statuses that never change again (host/jobs owns their meaning); a file, module or model
// used only by jobs in these statuses may be deleted.
const terminalSQL = `('succeeded','failed','cancelled')`

// File is a stored dataset: the wire record plus where its content lives.
type File struct {
	sdk.File
	// Path is the content's absolute path.
	Path string
}

// Module is a stored WASM module: the wire record plus where its content lives.
type Module struct {
	sdk.Module
	// Path is the .wasm file's absolute path.
	Path string
}

// Model is a registered model folder: the wire record plus where it lives.
type Model struct {
	sdk.Model
	// Path is the model folder's absolute path.
	Path string
	// OwnsPath reports that the folder belongs to the data folder (uploaded, fine-tuned) and goes with the model
	// when it is deleted; folders registered in place with from_path are left alone.
	OwnsPath bool
}

// InsertFile records f. Its ID must be new.
func (s *Store) InsertFile(ctx context.Context, f *File) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO files(id, filename, purpose, format, bytes, sha256, rows, labels,
		label_counts, warnings, text_column, label_column, path, created_at) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		f.ID, f.Filename, f.Purpose, f.Format, f.Bytes, f.SHA256, f.Rows, mustJSON(f.Labels),
		mustJSON(f.LabelCounts), mustJSON(f.Warnings), f.TextColumn, f.LabelColumn, f.Path, f.CreatedAt)
	if err != nil {
		return fmt.Errorf("store: insert file[%s]: %w", f.ID, err)
	}
	return nil
}

const fileCols = `id, filename, purpose, format, bytes, sha256, rows, labels, label_counts, warnings, text_column,
	label_column, path, created_at`

func scanFile(sc interface{ Scan(...any) error }) (*File, error) {
	var f File
	var labels, counts, warnings string
	if err := sc.Scan(&f.ID, &f.Filename, &f.Purpose, &f.Format, &f.Bytes, &f.SHA256, &f.Rows, &labels, &counts,
		&warnings, &f.TextColumn, &f.LabelColumn, &f.Path, &f.CreatedAt); err != nil {
		return nil, err
	}
	f.Object, f.Status = sdk.ObjectFile, "processed"
	if err := errors.Join(fromJSON(labels, &f.Labels), fromJSON(counts, &f.LabelCounts), fromJSON(warnings, &f.Warnings)); err != nil {
		return nil, fmt.Errorf("store: file[%s]: corrupt row: %w", f.ID, err)
	}
	return &f, nil
}

// GetFile returns the file id, or a *NotFoundError.
func (s *Store) GetFile(ctx context.Context, id string) (*File, error) {
	f, err := scanFile(s.db.QueryRowContext(ctx, `SELECT `+fileCols+` FROM files WHERE id=?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &NotFoundError{Kind: "file", ID: id}
	}
	if err != nil {
		return nil, fmt.Errorf("store: get file[%s]: %w", id, err)
	}
	return f, nil
}

// ListFiles returns every file, newest first.
func (s *Store) ListFiles(ctx context.Context) ([]*File, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+fileCols+` FROM files ORDER BY created_at DESC, rowid DESC`)
	if err != nil {
		return nil, fmt.Errorf("store: list files: %w", err)
	}
	defer rows.Close()
	var out []*File
	for rows.Next() {
		f, err := scanFile(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list files: %w", err)
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// DeleteFile removes the file id, its rows (RowsPath) and, when no other file shares its content, the content. It
// refuses with an *InUseError while an unfinished job uses the file.
func (s *Store) DeleteFile(ctx context.Context, id string) error {
	if err := s.deleteObject(ctx, "file", id, `SELECT id FROM jobs WHERE status NOT IN `+terminalSQL+`
		AND (training_file=?1 OR validation_file=?1) LIMIT 1`, "files"); err != nil {
		return err
	}
	_ = os.Remove(s.RowsPath(id))
	return nil
}

// RowsPath is where the checked rows of file id are stored (host/jobs.StoreRows): the data its jobs train on.
func (s *Store) RowsPath(id string) string { return s.Path("files", id+".rows.jsonl") }

// InsertModule records m. Its ID must be new.
func (s *Store) InsertModule(ctx context.Context, m *Module) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO modules(id, name, kind, sha256, abi_version, bytes, path, created_at)
		VALUES(?,?,?,?,?,?,?,?)`, m.ID, m.Name, m.Kind, m.SHA256, m.ABIVersion, m.Bytes, m.Path, m.CreatedAt)
	if err != nil {
		return fmt.Errorf("store: insert module[%s]: %w", m.ID, err)
	}
	return nil
}

const moduleCols = `id, name, kind, sha256, abi_version, bytes, path, created_at`

func scanModule(sc interface{ Scan(...any) error }) (*Module, error) {
	var m Module
	if err := sc.Scan(&m.ID, &m.Name, &m.Kind, &m.SHA256, &m.ABIVersion, &m.Bytes, &m.Path, &m.CreatedAt); err != nil {
		return nil, err
	}
	m.Object = sdk.ObjectModule
	return &m, nil
}

// GetModule returns the module id, or a *NotFoundError.
func (s *Store) GetModule(ctx context.Context, id string) (*Module, error) {
	m, err := scanModule(s.db.QueryRowContext(ctx, `SELECT `+moduleCols+` FROM modules WHERE id=?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &NotFoundError{Kind: "module", ID: id}
	}
	if err != nil {
		return nil, fmt.Errorf("store: get module[%s]: %w", id, err)
	}
	return m, nil
}

// ListModules returns every module, newest first.
func (s *Store) ListModules(ctx context.Context) ([]*Module, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+moduleCols+` FROM modules ORDER BY created_at DESC, rowid DESC`)
	if err != nil {
		return nil, fmt.Errorf("store: list modules: %w", err)
	}
	defer rows.Close()
	var out []*Module
	for rows.Next() {
		m, err := scanModule(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list modules: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// DeleteModule removes the module id (and its content when unshared); it refuses with an *InUseError while an
// unfinished job uses it.
func (s *Store) DeleteModule(ctx context.Context, id string) error {
	return s.deleteObject(ctx, "module", id, `SELECT id FROM jobs WHERE status NOT IN `+terminalSQL+`
		AND (preprocess_module=?1 OR evaluate_module=?1) LIMIT 1`, "modules")
}

// deleteObject deletes one row of table after checking usedBy (a query on ?1 = id returning a job id), then removes
// its content file when no other row of the table shares it.
func (s *Store) deleteObject(ctx context.Context, kind, id, usedBy, table string) error {
	var path string
	var shared int
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT path FROM `+table+` WHERE id=?`, id).Scan(&path); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return &NotFoundError{Kind: kind, ID: id}
			}
			return err
		}
		var jobID string
		switch err := tx.QueryRowContext(ctx, usedBy, id).Scan(&jobID); {
		case err == nil:
			return &InUseError{Kind: kind, ID: id, JobID: jobID}
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE id=?`, id); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table+` WHERE path=?`, path).Scan(&shared)
	})
	if err != nil {
		var nf *NotFoundError
		var iu *InUseError
		if errors.As(err, &nf) || errors.As(err, &iu) {
			return err
		}
		return fmt.Errorf("store: delete %s[%s]: %w", kind, id, err)
	}
	if shared == 0 {
		_ = os.Remove(path)
	}
	return nil
}

// InsertModel registers m. A duplicate ID is a *ConflictError.
func (s *Store) InsertModel(ctx context.Context, m *Model) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return insertModel(ctx, tx, m) })
}

func insertModel(ctx context.Context, tx *sql.Tx, m *Model) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM models WHERE id=?`, m.ID).Scan(&n); err != nil {
		return fmt.Errorf("store: insert model[%s]: %w", m.ID, err)
	}
	if n > 0 {
		return &ConflictError{Kind: "model", ID: m.ID, Msg: "a model with this id already exists"}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO models(id, path, source, owned_by, labels, architecture, base_model,
		job_id, owns_path, created_at) VALUES(?,?,?,?,?,?,?,?,?,?)`, m.ID, m.Path, m.Source, m.OwnedBy,
		mustJSON(m.Labels), m.Architecture, m.BaseModel, m.JobID, m.OwnsPath, m.CreatedAt)
	if err != nil {
		return fmt.Errorf("store: insert model[%s]: %w", m.ID, err)
	}
	return nil
}

const modelCols = `id, path, source, owned_by, labels, architecture, base_model, job_id, owns_path, created_at`

func scanModel(sc interface{ Scan(...any) error }) (*Model, error) {
	var m Model
	var labels string
	if err := sc.Scan(&m.ID, &m.Path, &m.Source, &m.OwnedBy, &labels, &m.Architecture, &m.BaseModel, &m.JobID,
		&m.OwnsPath, &m.CreatedAt); err != nil {
		return nil, err
	}
	m.Object = sdk.ObjectModel
	if err := fromJSON(labels, &m.Labels); err != nil {
		return nil, fmt.Errorf("store: model[%s]: corrupt row: %w", m.ID, err)
	}
	return &m, nil
}

// GetModel returns the model id, or a *NotFoundError.
func (s *Store) GetModel(ctx context.Context, id string) (*Model, error) {
	m, err := scanModel(s.db.QueryRowContext(ctx, `SELECT `+modelCols+` FROM models WHERE id=?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &NotFoundError{Kind: "model", ID: id}
	}
	if err != nil {
		return nil, fmt.Errorf("store: get model[%s]: %w", id, err)
	}
	return m, nil
}

// ListModels returns every model, newest first.
func (s *Store) ListModels(ctx context.Context) ([]*Model, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+modelCols+` FROM models ORDER BY created_at DESC, rowid DESC`)
	if err != nil {
		return nil, fmt.Errorf("store: list models: %w", err)
	}
	defer rows.Close()
	var out []*Model
	for rows.Next() {
		m, err := scanModel(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list models: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// DeleteModel unregisters the model id, removing its folder when the data folder owns it; it refuses with an
// *InUseError while an unfinished job fine-tunes it. A fine-tuned model's folder is its job's output folder and
// is removed with it.
func (s *Store) DeleteModel(ctx context.Context, id string) error {
	var m *Model
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		m, err = scanModel(tx.QueryRowContext(ctx, `SELECT `+modelCols+` FROM models WHERE id=?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return &NotFoundError{Kind: "model", ID: id}
		}
		if err != nil {
			return err
		}
		var jobID string
		switch err := tx.QueryRowContext(ctx, `SELECT id FROM jobs WHERE status NOT IN `+terminalSQL+`
			AND model=? LIMIT 1`, id).Scan(&jobID); {
		case err == nil:
			return &InUseError{Kind: "model", ID: id, JobID: jobID}
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM models WHERE id=?`, id)
		return err
	})
	if err != nil {
		var nf *NotFoundError
		var iu *InUseError
		if errors.As(err, &nf) || errors.As(err, &iu) {
			return err
		}
		return fmt.Errorf("store: delete model[%s]: %w", id, err)
	}
	if m.OwnsPath {
		_ = os.RemoveAll(m.Path)
	}
	return nil
}
