#include <ruby.h>

/* Wordcount.count(string): the number of space-separated words, in C. */
static VALUE wordcount_count(VALUE self, VALUE string) {
  const char *p = StringValuePtr(string);
  long length = RSTRING_LEN(string), words = 0, i;
  int in_word = 0;
  for (i = 0; i < length; i++) {
    if (p[i] == ' ') {
      in_word = 0;
    } else if (!in_word) {
      in_word = 1;
      words++;
    }
  }
  return LONG2NUM(words);
}

void Init_wordcount(void) {
  VALUE module = rb_define_module("Wordcount");
  rb_define_singleton_method(module, "count", wordcount_count, 1);
  rb_define_const(module, "NATIVE", Qtrue);
}
