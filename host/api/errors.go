package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/whetml/whet/dataset"
	"github.com/whetml/whet/host/jobs"
	"github.com/whetml/whet/host/modeldir"
	"github.com/whetml/whet/host/predict"
	"github.com/whetml/whet/host/sandbox"
	"github.com/whetml/whet/host/store"
	"github.com/whetml/whet/sdk"
)

// Error is an HTTP error a handler returns: its status and the OpenAI-shaped body fields.
type Error struct {
	// Status is the HTTP status.
	Status int
	// Type is the error class ("invalid_request_error", ...).
	Type string
	// Code is a stable reason ("missing_api_key"), or "".
	Code string
	// Param names the request field at fault, or "".
	Param string
	// Message says what is wrong and what to fix.
	Message string
}

// Error implements error.
func (e *Error) Error() string { return e.Message }

func badRequest(param, code, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Type: "invalid_request_error", Code: code, Param: param,
		Message: fmt.Sprintf(format, args...)}
}

// toError maps any error a handler returns to the status and body the client sees. Unknown errors become a 500
// whose detail stays in the log.
func toError(err error) (*Error, bool) {
	var (
		ae  *Error
		fe  *fiber.Error
		ve  *jobs.ValidationError
		pe  *jobs.ParamError
		se  *jobs.StateError
		nf  *store.NotFoundError
		iu  *store.InUseError
		ce  *store.ConflictError
		tl  *store.TooLargeError
		qe  *store.QuotaError
		de  *dataset.Error
		des dataset.Errors
		me  *modeldir.Error
		we  *predict.WorkerError
	)
	switch {
	case errors.As(err, &ae):
		return ae, true
	case errors.As(err, &ve):
		return &Error{Status: 400, Type: "invalid_request_error", Code: "invalid_value", Param: ve.Param, Message: ve.Error()}, true
	case errors.As(err, &pe):
		out, ok := toError(pe.Err)
		out.Param = pe.Param
		out.Message = pe.Error()
		return out, ok
	case errors.As(err, &se):
		return &Error{Status: 409, Type: "conflict_error", Code: "invalid_state", Message: se.Error()}, true
	case errors.As(err, &nf):
		return &Error{Status: 404, Type: "not_found_error", Code: "not_found", Message: nf.Error()}, true
	case errors.As(err, &iu):
		return &Error{Status: 409, Type: "conflict_error", Code: "in_use", Message: iu.Error()}, true
	case errors.As(err, &ce):
		return &Error{Status: 409, Type: "conflict_error", Code: "conflict", Message: ce.Error()}, true
	case errors.As(err, &qe):
		return &Error{Status: 507, Type: "insufficient_storage", Code: "storage_quota", Message: qe.Error()}, true
	case errors.As(err, &tl):
		return &Error{Status: 413, Type: "request_too_large", Code: "too_large", Param: "file", Message: tl.Error()}, true
	case errors.As(err, &des):
		return &Error{Status: 400, Type: "invalid_request_error", Code: "invalid_file", Param: "file", Message: des.Error()}, true
	case errors.As(err, &de):
		return &Error{Status: 400, Type: "invalid_request_error", Code: "invalid_file", Param: "file", Message: de.Error()}, true
	case errors.As(err, &me):
		return &Error{Status: 400, Type: "invalid_request_error", Code: "invalid_model", Message: me.Error()}, true
	case errors.Is(err, sandbox.ErrModuleTooLarge):
		return &Error{Status: 413, Type: "request_too_large", Code: "too_large", Param: "file", Message: err.Error()}, true
	case errors.Is(err, sandbox.ErrInvalidModule):
		return &Error{Status: 400, Type: "invalid_request_error", Code: "invalid_module", Param: "file", Message: err.Error()}, true
	case errors.Is(err, sandbox.ErrModuleError), errors.Is(err, sandbox.ErrWrongKind):
		return &Error{Status: 400, Type: "invalid_request_error", Code: "module_error", Message: err.Error()}, true
	case errors.Is(err, sandbox.ErrTimeout), errors.Is(err, sandbox.ErrOutOfMemory), errors.Is(err, sandbox.ErrGuestPanic),
		errors.Is(err, sandbox.ErrTrap), errors.Is(err, sandbox.ErrBadResult):
		return &Error{Status: 422, Type: "invalid_request_error", Code: "module_failed", Message: err.Error()}, true
	case errors.Is(err, predict.ErrBusy):
		return &Error{Status: 503, Type: "server_error", Code: "busy", Message: err.Error()}, true
	case errors.As(err, &we):
		if we.Request {
			return &Error{Status: 400, Type: "invalid_request_error", Code: "predict_failed", Param: "inputs", Message: we.Error()}, true
		}
		return &Error{Status: 500, Type: "server_error", Code: "worker_failed", Message: we.Error()}, true
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Status: 504, Type: "server_error", Code: "timeout", Message: "the request timed out"}, true
	case errors.As(err, &fe):
		t := "invalid_request_error"
		switch {
		case fe.Code == 404:
			t = "not_found_error"
		case fe.Code == 413:
			t = "request_too_large"
		case fe.Code >= 500:
			t = "server_error"
		}
		return &Error{Status: fe.Code, Type: t, Message: fe.Message}, true
	}
	return &Error{Status: 500, Type: "server_error", Code: "internal", Message: "internal server error (details are in the server log)"}, false
}

// ErrorHandler is the fiber Config.ErrorHandler: it maps typed errors to a status and an sdk.ErrorResponse body,
// logging server-side failures with their detail.
func (s *Server) ErrorHandler(c *fiber.Ctx, err error) error {
	out, known := toError(err)
	var fe *fiber.Error
	if errors.As(err, &fe) && fe.Code == fiber.StatusRequestEntityTooLarge {
		out.Message = fmt.Sprintf("request body is larger than the server's limit of %d bytes", s.bodyLimit())
	} else if errors.As(err, &fe) && fe.Code == fiber.StatusNotFound &&
		(out.Message == fiber.ErrNotFound.Message || strings.HasPrefix(out.Message, "Cannot ")) {
		out.Message = fmt.Sprintf("no route %s %s", c.Method(), c.Path())
	}
	if !known || out.Status >= 500 {
		s.log.Error("request failed", "method", c.Method(), "path", c.Path(), "status", out.Status, "err", err)
	}
	body := sdk.ErrorResponse{Error: sdk.Error{Message: out.Message, Type: out.Type}}
	if out.Param != "" {
		body.Error.Param = &out.Param
	}
	if out.Code != "" {
		body.Error.Code = &out.Code
	}
	if hasBody(c) {
		// The body may be unread (a refusal before the handler read it): do not wait for the rest of it.
		c.Set(fiber.HeaderConnection, "close")
	}
	if out.Status == fiber.StatusTooManyRequests {
		c.Set(fiber.HeaderRetryAfter, "1")
	}
	if out.Status == fiber.StatusUnauthorized {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="whet"`)
	}
	return c.Status(out.Status).JSON(body)
}
