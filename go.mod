module github.com/killswitch/killswitch

go 1.24
