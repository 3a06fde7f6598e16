complete --keep-order --exclusive --command paas --arguments "(COMPLETE=fish paas -- (commandline --current-process --tokenize --cut-at-cursor) (commandline --current-token))"
