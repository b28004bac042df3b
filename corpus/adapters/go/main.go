// Go's standard library reading generated messages, written in the tree shape scop-mail-corpus
// compares (schema/parsed.schema.json). Standard library only:
//
//	go build -o harness . && ls out/*.eml | ./harness > go.jsonl
//	scop-mail-corpus check --expected trees.jsonl --actual go.jsonl --caps '{"headerOrder":false}'
//
// Go has no MIME tree parser: net/mail reads a message's header and body, mime/multipart splits
// multiparts (NextRawPart, so quoted-printable is not decoded behind our back), mime parses media
// types and RFC 2231 parameters and decodes RFC 2047 words, mime/quotedprintable and
// encoding/base64 undo transfer encodings. The walk over them is this file's, and applies the
// RFC defaults (text/plain; message/rfc822 inside multipart/digest). Go has no charset
// conversion beyond UTF-8, US-ASCII and ISO-8859-1, so other charsets fail to decode in words, and
// decoded text is given only for UTF-8 and US-ASCII parts. Header fields are maps in Go: their
// order is lost.
package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

type mailbox struct {
	Name    string `json:"name"`
	Address string `json:"address"`
}

type field struct {
	Name      string        `json:"name"`
	Value     *string       `json:"value,omitempty"`
	Addresses []interface{} `json:"addresses,omitempty"`
	Date      *string       `json:"date,omitempty"`
	Ids       []string      `json:"ids,omitempty"`
}

type text struct {
	Size   int    `json:"size"`
	Sha256 string `json:"sha256"`
}

type body struct {
	Size   int    `json:"size"`
	Sha256 string `json:"sha256"`
	Text   *text  `json:"text,omitempty"`
}

type entity struct {
	Headers          []field           `json:"headers"`
	Type             string            `json:"type"`
	Params           map[string]string `json:"params"`
	Disposition      *string           `json:"disposition"`
	Filename         *string           `json:"filename"`
	TransferEncoding string            `json:"transferEncoding"`
	Body             *body             `json:"body,omitempty"`
	Parts            []entity          `json:"parts,omitempty"`
	Message          *entity           `json:"message,omitempty"`
}

type record struct {
	ID    string  `json:"id"`
	Tree  *entity `json:"tree,omitempty"`
	Error string  `json:"error,omitempty"`
}

var (
	decoder = new(mime.WordDecoder)
	idRe    = regexp.MustCompile(`<[^<>]*>`)
	address = map[string]bool{"From": true, "To": true, "Cc": true, "Bcc": true, "Sender": true, "Reply-To": true}
)

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// addresses is net/mail's reading of an address list. net/mail has no groups (RFC 5322 3.4): a
// list holding one fails as a whole, which is what a Go program using the standard library sees.
func addresses(v string) ([]interface{}, error) {
	list, err := mail.ParseAddressList(v)
	if err != nil {
		return nil, err
	}
	out := make([]interface{}, 0, len(list))
	for _, a := range list {
		out = append(out, mailbox{a.Name, a.Address})
	}
	return out, nil
}

func fields(h textproto.MIMEHeader) []field {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys) // a map has no order; sorted keeps the output stable
	var out []field
	for _, k := range keys {
		for _, raw := range h[k] {
			f := field{Name: k}
			v, err := decoder.DecodeHeader(raw)
			if err != nil {
				v = "!error: " + err.Error()
			}
			f.Value = &v
			switch {
			case address[k]:
				if list, err := addresses(raw); err == nil {
					f.Addresses = list
				} else {
					f.Addresses = []interface{}{}
				}
			case k == "Date":
				if t, err := mail.ParseDate(raw); err == nil {
					s := t.UTC().Format("2006-01-02T15:04:05.000Z")
					f.Date = &s
				} else {
					unparsed := "" // present but empty: the date did not parse
					f.Date = &unparsed
				}
			case k == "Message-Id" || k == "In-Reply-To" || k == "References":
				f.Ids = idRe.FindAllString(raw, -1)
			}
			out = append(out, f)
		}
	}
	return out
}

func decodeBody(cte string, raw []byte) ([]byte, error) {
	switch cte {
	case "base64":
		clean := bytes.Map(func(r rune) rune {
			if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, raw)
		return base64.StdEncoding.DecodeString(string(clean))
	case "quoted-printable":
		return io.ReadAll(quotedprintable.NewReader(bytes.NewReader(raw)))
	}
	return raw, nil
}

func parseEntity(h textproto.MIMEHeader, raw []byte, inDigest bool, depth int) (entity, error) {
	e := entity{Headers: fields(h), Params: map[string]string{}}
	ct := h.Get("Content-Type")
	if ct == "" {
		if inDigest {
			e.Type = "message/rfc822"
		} else {
			e.Type = "text/plain"
		}
	} else {
		t, params, err := mime.ParseMediaType(ct)
		if err != nil {
			return e, fmt.Errorf("Content-Type: %w", err)
		}
		e.Type = t
		for k, v := range params {
			e.Params[k] = v
		}
	}
	if cd := h.Get("Content-Disposition"); cd != "" {
		d, params, err := mime.ParseMediaType(cd)
		if err == nil {
			e.Disposition = &d
			if fn, ok := params["filename"]; ok {
				e.Filename = &fn
			}
		}
	}
	if e.Filename == nil {
		if n, ok := e.Params["name"]; ok {
			e.Filename = &n
		}
	}
	e.TransferEncoding = strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding")))
	if e.TransferEncoding == "" {
		e.TransferEncoding = "7bit"
	}
	if depth > 50 {
		return e, fmt.Errorf("nesting deeper than 50")
	}
	switch {
	case strings.HasPrefix(e.Type, "multipart/"):
		r := multipart.NewReader(bytes.NewReader(raw), e.Params["boundary"])
		for {
			p, err := r.NextRawPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return e, err
			}
			content, err := io.ReadAll(p)
			if err != nil {
				return e, err
			}
			child, err := parseEntity(p.Header, content, e.Type == "multipart/digest", depth+1)
			if err != nil {
				return e, err
			}
			e.Parts = append(e.Parts, child)
		}
		if e.Parts == nil {
			e.Parts = []entity{}
		}
	case e.Type == "message/rfc822" || e.Type == "message/global":
		m, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			return e, err
		}
		content, err := io.ReadAll(m.Body)
		if err != nil {
			return e, err
		}
		inner, err := parseEntity(textproto.MIMEHeader(m.Header), content, false, depth+1)
		if err != nil {
			return e, err
		}
		e.Message = &inner
		e.Body = &body{Size: len(raw), Sha256: digest(raw)}
	default:
		data, err := decodeBody(e.TransferEncoding, raw)
		if err != nil {
			return e, err
		}
		b := &body{Size: len(data), Sha256: digest(data)}
		cs := strings.ToLower(e.Params["charset"])
		if strings.HasPrefix(e.Type, "text/") && (cs == "" || cs == "utf-8" || cs == "us-ascii") {
			t := bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
			b.Text = &text{Size: len(t), Sha256: digest(t)}
		}
		e.Body = b
	}
	return e, nil
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	for in.Scan() {
		path := strings.TrimSpace(in.Text())
		if path == "" {
			continue
		}
		rec := record{ID: strings.TrimSuffix(filepath.Base(path), ".eml")}
		raw, err := os.ReadFile(path)
		if err == nil {
			var m *mail.Message
			if m, err = mail.ReadMessage(bytes.NewReader(raw)); err == nil {
				var content []byte
				if content, err = io.ReadAll(m.Body); err == nil {
					var e entity
					if e, err = parseEntity(textproto.MIMEHeader(m.Header), content, false, 0); err == nil {
						rec.Tree = &e
					}
				}
			}
		}
		if err != nil {
			rec.Error = err.Error()
		}
		if err := enc.Encode(rec); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
