require "wordcount/wordcount"
