package harness

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// EnvChromiumBin names the Chromium binary (set by `make tools`).
const EnvChromiumBin = "PKGSERVER_CHROMIUM_BIN"

// ChromiumBinary returns Chromium: $PKGSERVER_CHROMIUM_BIN, else chromium
// on PATH.
func ChromiumBinary() (string, error) {
	if p := os.Getenv(EnvChromiumBin); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("chromium not found ($" + EnvChromiumBin + " or PATH); run `make tools`")
}

// Browser is one headless Chromium for a whole test, with a tab per user.
// It records the URL of every request any of its tabs makes, and what the
// pages report as going wrong.
type Browser struct {
	ctx context.Context // the browser's first tab; tabs are its children

	mu       sync.Mutex
	requests []string
	problems []string
}

// BrowserOptions say how to start Chromium.
type BrowserOptions struct {
	// Bin is the Chromium binary.
	Bin string
	// TrustCertFiles are PEM certificates whose keys Chromium accepts for
	// TLS, whoever signed them (the test servers' own certificates).
	TrustCertFiles []string
	// Width and Height are the window size (default 1280×860).
	Width, Height int
}

// StartBrowser starts Chromium headless with a fresh profile, off the
// network but for what a test points it at; it stops with t.
func StartBrowser(t testing.TB, o BrowserOptions) *Browser {
	t.Helper()
	if o.Width == 0 {
		o.Width, o.Height = 1280, 860
	}
	var spki []string
	for _, f := range o.TrustCertFiles {
		h, err := spkiHash(f)
		if err != nil {
			t.Fatal(err)
		}
		spki = append(spki, h)
	}
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(o.Bin),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // tests run as root in containers
		chromedp.WindowSize(o.Width, o.Height),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-proxy-server", true),
	)
	if len(spki) > 0 {
		opts = append(opts, chromedp.Flag("ignore-certificate-errors-spki-list", strings.Join(spki, ",")))
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium %s: %v", o.Bin, err)
	}
	return &Browser{ctx: ctx}
}

// Tab opens a tab in a browser context of its own (its own cookies, like
// another person's browser); it closes with t. Its requests are recorded.
func (b *Browser) Tab(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatal(err)
	}
	reqs := chromedp.Events(ctx, network.RequestWillBeSent)
	go func() {
		for ev, err := range reqs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.requests = append(b.requests, ev.Request.URL)
			b.mu.Unlock()
		}
	}()
	logs := chromedp.Events(ctx, log.EntryAdded)
	go func() {
		for ev, err := range logs {
			if err != nil {
				return
			}
			if e := ev.Entry; e.Level == log.EntryLevelError || e.Level == log.EntryLevelWarning {
				b.problem(fmt.Sprintf("%s %s: %s (%s)", e.Level, e.Source, e.Text, e.URL))
			}
		}
	}()
	thrown := chromedp.Events(ctx, runtime.ExceptionThrown)
	go func() {
		for ev, err := range thrown {
			if err != nil {
				return
			}
			d := ev.ExceptionDetails
			text := d.Text
			if d.Exception != nil {
				text += " " + d.Exception.Description
			}
			b.problem(fmt.Sprintf("exception: %s (%s:%d)", text, d.URL, d.LineNumber))
		}
	}()
	return ctx
}

func (b *Browser) problem(p string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, p)
}

// Requests are the URLs every tab requested so far.
func (b *Browser) Requests() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.requests)
}

// Problems are the errors and warnings the pages of every tab logged so
// far (refusals of the Content-Security-Policy among them) and the
// exceptions their scripts threw.
func (b *Browser) Problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.problems)
}

// spkiHash is the base64 SHA-256 of a certificate's public key, as
// --ignore-certificate-errors-spki-list takes it.
func spkiHash(certFile string) (string, error) {
	data, err := os.ReadFile(certFile)
	if err != nil {
		return "", err
	}
	blk, _ := pem.Decode(data)
	if blk == nil {
		return "", fmt.Errorf("%s: no PEM certificate", certFile)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:]), nil
}
