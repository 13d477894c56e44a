package api

import (
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// Browser guards (the server's answer to cross-site request forgery and DNS rebinding; README "Security"):
//
//   - A request that carries an Origin header (browsers send it on every cross-origin request and on same-origin
//     POSTs) is refused with 403 unless that origin is the server itself (its scheme and Host) or is listed in
//     Config.AllowOrigins. Allowed foreign origins get CORS headers and preflight answers.
//   - Without API keys, the Host header must be an IP address, "localhost", or a name in Config.AllowHosts: a
//     page on a rebound domain name cannot reach the keyless API through the user's browser.
//   - JSON routes require Content-Type application/json (decodeJSON), which HTML forms cannot send.

// guard is the first middleware: it refuses foreign origins and, on a keyless server, foreign Host names.
func (s *Server) guard(c *fiber.Ctx) error {
	origin := c.Get(fiber.HeaderOrigin)
	allowed := origin == "" || s.sameOrigin(c, origin)
	if !allowed && slices.Contains(s.cfg.AllowOrigins, origin) {
		allowed = true
		c.Set(fiber.HeaderAccessControlAllowOrigin, origin)
		c.Set(fiber.HeaderVary, fiber.HeaderOrigin)
		if c.Method() == fiber.MethodOptions {
			c.Set(fiber.HeaderAccessControlAllowMethods, "GET, POST, DELETE")
			c.Set(fiber.HeaderAccessControlAllowHeaders, "Authorization, Content-Type")
			c.Set(fiber.HeaderAccessControlMaxAge, "600")
			return c.SendStatus(fiber.StatusNoContent)
		}
	}
	if !allowed {
		return &Error{Status: fiber.StatusForbidden, Type: "permission_error", Code: "cross_origin",
			Message: "cross-origin request from " + origin + " refused: start the server with --allow-origin " + origin + " to allow that site"}
	}
	host := string(c.Request().Header.Host()) // not c.Hostname(): it believes X-Forwarded-Host, which a page can set
	if !s.hostAllowed(host) {
		keyed, err := s.keyed(c)
		if err != nil {
			return err
		}
		if !keyed {
			return &Error{Status: fiber.StatusForbidden, Type: "permission_error", Code: "host_not_allowed",
				Message: "Host " + host + " refused: a server without API keys answers only to IP addresses, localhost and the names given with --allow-host"}
		}
	}
	return c.Next()
}

// sameOrigin reports whether origin is this server as the client addressed it (scheme aside: a TLS proxy may
// stand in front).
func (s *Server) sameOrigin(c *fiber.Ctx, origin string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, string(c.Request().Header.Host()))
}

// hostAllowed reports whether a keyless server answers to the Host header host ("name" or "name:port").
func (s *Server) hostAllowed(host string) bool {
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	name = strings.TrimSuffix(strings.Trim(name, "[]"), ".")
	if net.ParseIP(name) != nil || strings.EqualFold(name, "localhost") || s.cfg.InsecureNoAuth {
		return true
	}
	for _, a := range s.cfg.AllowHosts {
		if strings.EqualFold(a, name) || strings.EqualFold(a, host) {
			return true
		}
	}
	return false
}
