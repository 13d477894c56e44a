package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/whetml/whet/host/store"
)

// Request bodies are streamed (fiber StreamRequestBody): nothing past the first 8 KiB is read before the route's
// middleware (authentication) and handler ask for it, each route reads at most its own limit, and multipart file
// parts go straight to the data folder's tmp/ (never the system's temporary folder).

const (
	// maxFormField caps one multipart text field.
	maxFormField = 64 << 10
	// maxFormParts caps the parts of one multipart body.
	maxFormParts = 32
	// formOverhead is what a multipart body may carry besides its file.
	formOverhead = 1 << 20
)

// errBodyTooLarge is returned by limitReader past its limit.
var errBodyTooLarge = errors.New("request body too large")

// limitReader reads at most n bytes, then fails with errBodyTooLarge (io.LimitReader would end quietly).
type limitReader struct {
	r io.Reader
	n int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n > 0 {
			return 0, errBodyTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// hasBody reports whether the request announces a body (a Content-Length above 0, or chunked).
func hasBody(c *fiber.Ctx) bool {
	n := c.Request().Header.ContentLength()
	return n > 0 || n == -1
}

// body returns the request body as a stream of at most limit bytes, or a 413 when Content-Length announces more.
func body(c *fiber.Ctx, limit int64, what string) (io.Reader, error) {
	if n := c.Request().Header.ContentLength(); n > 0 && int64(n) > limit {
		return nil, tooLarge(what, limit)
	}
	r := c.Context().RequestBodyStream()
	if r == nil {
		r = bytes.NewReader(c.Body())
	}
	return &limitReader{r: r, n: limit}, nil
}

func tooLarge(what string, limit int64) *Error {
	return &Error{Status: fiber.StatusRequestEntityTooLarge, Type: "request_too_large", Code: "too_large",
		Message: fmt.Sprintf("%s is larger than the limit of %d bytes", what, limit)}
}

func unsupportedMedia(want, got string) *Error {
	return &Error{Status: fiber.StatusUnsupportedMediaType, Type: "invalid_request_error", Code: "unsupported_media_type",
		Message: fmt.Sprintf("Content-Type must be %s, got %q", want, got)}
}

// decodeJSON decodes the request body into v, strictly: Content-Type application/json, at most
// Config.MaxJSONBytes, unknown fields and trailing data are errors naming them.
func (s *Server) decodeJSON(c *fiber.Ctx, v any) error {
	ct := c.Get(fiber.HeaderContentType)
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != fiber.MIMEApplicationJSON {
		return unsupportedMedia(fiber.MIMEApplicationJSON, ct)
	}
	r, err := body(c, int64(s.cfg.MaxJSONBytes), "JSON body")
	if err != nil {
		return err
	}
	raw, err := io.ReadAll(r)
	if errors.Is(err, errBodyTooLarge) {
		return tooLarge("JSON body", int64(s.cfg.MaxJSONBytes))
	}
	if err != nil {
		return badRequest("", "invalid_body", "reading the request body: %v", err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return badRequest("", "invalid_json", "empty request body: expected a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			return badRequest(te.Field, "invalid_json", "field %q: expected %s, got JSON %s", te.Field, te.Type, te.Value)
		case errors.As(err, &se):
			return badRequest("", "invalid_json", "invalid JSON body at byte %d: %v", se.Offset, err)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return badRequest(field, "unknown_field", "unknown field %q", field)
		}
		return badRequest("", "invalid_json", "invalid JSON body: %v", err)
	}
	if dec.More() {
		return badRequest("", "invalid_json", "invalid JSON body: data after the object")
	}
	return nil
}

// form is a multipart/form-data body read by readForm: its text fields and its "file" part, staged in the data
// folder's tmp/.
type form struct {
	fields   map[string]string
	file     *store.Staged
	filename string
}

// value returns a text field ("" when absent).
func (f *form) value(name string) string { return f.fields[name] }

// discard removes the staged file unless it was committed.
func (f *form) discard() {
	if f.file != nil {
		f.file.Discard()
	}
}

// readForm streams a multipart/form-data body: the "file" part (required) is staged under the data folder,
// refused past limit bytes with a 413 naming what; text fields are kept (each at most maxFormField). The caller
// must discard the form.
func (s *Server) readForm(c *fiber.Ctx, what string, limit int64) (*form, error) {
	ct := c.Get(fiber.HeaderContentType)
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != fiber.MIMEMultipartForm || params["boundary"] == "" {
		return nil, unsupportedMedia("multipart/form-data with a boundary (send the content as multipart field \"file\")", ct)
	}
	r, err := body(c, limit+formOverhead, what)
	if err != nil {
		return nil, err
	}
	f := &form{fields: map[string]string{}}
	if err := f.read(s.st, multipart.NewReader(r, params["boundary"]), what, limit); err != nil {
		f.discard()
		if errors.Is(err, errBodyTooLarge) {
			return nil, tooLarge(what, limit)
		}
		return nil, err
	}
	// Read what follows the closing boundary (a chunked body's last chunk), so the connection can serve the next
	// request.
	if _, err := io.Copy(io.Discard, r); err != nil {
		f.discard()
		return nil, tooLarge(what, limit)
	}
	if f.file == nil {
		return nil, badRequest("file", "missing_file", "missing multipart field \"file\" (send the content as multipart/form-data)")
	}
	return f, nil
}

func (f *form) read(st *store.Store, mr *multipart.Reader, what string, limit int64) error {
	for n := 0; ; n++ {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if errors.Is(err, errBodyTooLarge) {
				return err
			}
			return badRequest("", "invalid_multipart", "malformed multipart body: %v", err)
		}
		if n >= maxFormParts {
			return badRequest("", "invalid_multipart", "multipart body has more than %d parts", maxFormParts)
		}
		name := part.FormName()
		if name == "file" {
			if f.file != nil {
				return badRequest("file", "invalid_multipart", "multipart field \"file\" appears twice")
			}
			f.filename = part.FileName()
			if f.filename == "" {
				f.filename = "upload"
			}
			staged, err := st.Stage(part, fmt.Sprintf("%s[%s]", what, f.filename), limit)
			if err != nil {
				return err
			}
			f.file = staged
			continue
		}
		v, err := io.ReadAll(io.LimitReader(part, maxFormField+1))
		if err != nil {
			return err
		}
		if len(v) > maxFormField {
			return badRequest(name, "invalid_value", "multipart field %q is longer than %d bytes", name, maxFormField)
		}
		f.fields[name] = string(v)
	}
}
