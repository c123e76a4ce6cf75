package httpapi

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"

	"github.com/gofiber/fiber/v2"

	"github.com/scimplane/scimplane/plugins/scimworker"
)

// maxExportRows bounds one log export.
const maxExportRows = 100_000

// csvColumns are the log entry fields a CSV export carries.
var csvColumns = []string{"id", "at", "request_id", "method", "path", "query", "status", "scim_type", "detail",
	"resource_type", "resource_id", "external_id", "user_name", "display_name", "filter", "latency_us"}

// logs answers GET /tenants/{id}/logs: a page of the SCIM log, or with
// ?format=ndjson|csv every matching entry (up to maxExportRows).
func (s *server) logs(c *fiber.Ctx) error {
	route := readRoute{op: scimworker.OpLogQuery, query: logQuery}
	format := c.Query("format")
	if format == "" || format == "json" {
		return s.readOp(route)(c)
	}
	if format != "ndjson" && format != "csv" {
		return &httpError{code: fiber.StatusBadRequest, msg: "format must be json, ndjson or csv"}
	}
	raw, err := route.args(c)
	if err != nil {
		return err
	}
	var args map[string]any
	_ = json.Unmarshal(raw, &args)
	args["limit"] = 500

	var out bytes.Buffer
	w := csv.NewWriter(&out)
	if format == "csv" {
		_ = w.Write(csvColumns)
	}
	for rows := 0; rows < maxExportRows; {
		b, _ := json.Marshal(args)
		reply, err := s.callOp(c, scimworker.OpLogQuery, false, b)
		if err != nil {
			return err
		}
		if reply.Status != fiber.StatusOK {
			c.Status(reply.Status)
			c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
			return c.Send(reply.Body)
		}
		var page struct {
			Entries []map[string]any `json:"entries"`
			Next    string           `json:"next"`
		}
		if err := json.Unmarshal(reply.Body, &page); err != nil {
			return fmt.Errorf("log page from worker: %w", err)
		}
		for _, e := range page.Entries {
			if format == "ndjson" {
				line, _ := json.Marshal(e)
				out.Write(append(line, '\n'))
				continue
			}
			rec := make([]string, len(csvColumns))
			for i, col := range csvColumns {
				if v, ok := e[col]; ok && v != nil {
					rec[i] = fmt.Sprint(v)
				}
			}
			_ = w.Write(rec)
		}
		rows += len(page.Entries)
		if page.Next == "" || len(page.Entries) == 0 {
			break
		}
		args["after"] = page.Next
	}
	w.Flush()
	if format == "csv" {
		c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	} else {
		c.Set(fiber.HeaderContentType, "application/x-ndjson")
	}
	c.Set(fiber.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="scim-log.%s"`, format))
	return c.Send(out.Bytes())
}
