module scop-mail-corpus/adapters/go

go 1.18
