module github.com/wsloop/wsloop/bench

go 1.26.0

replace github.com/wsloop/wsloop => ../

require (
	github.com/gobwas/ws v1.5.0
	github.com/gorilla/websocket v1.5.3
	github.com/lesismal/llib v1.2.2
	github.com/lesismal/nbio v1.6.8
	github.com/lxzan/gws v1.8.9
	github.com/mailru/easygo v0.0.0-20190618140210-3c14a0dc985f
	github.com/wsloop/wsloop v0.0.0-00010101000000-000000000000
	golang.org/x/sys v0.50.0
)

require (
	github.com/dolthub/maphash v0.1.0 // indirect
	github.com/gobwas/httphead v0.1.0 // indirect
	github.com/klauspost/compress v1.20.4 // indirect
	github.com/pires/go-proxyproto v0.15.0 // indirect
	golang.org/x/crypto v0.58.0 // indirect
)
