require "mkmf"
create_makefile("wordcount/wordcount")
