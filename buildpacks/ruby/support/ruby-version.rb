# ruby ruby-version.rb BUILD_DIR
# Checks the Ruby version the app asks for against the stack's (the one
# running this script) before Bundler runs, so the push says plainly what the
# stack has. Exits 1 when the request cannot be met.
#
# - Gemfile `ruby "..."`: Bundler's own rule (a Gem::Requirement, so
#   `ruby "3.1"` means exactly 3.1, which Bundler refuses on 3.1.2).
# - .ruby-version ("3.1.2", "ruby-3.1", "3.1"): the same major.minor is
#   enough; a different patch level runs on the stack's, with a note.

build = ARGV.fetch(0)
stack = Gem::Version.new(RUBY_VERSION)
series = stack.segments.first(2).join(".")

def refuse(lines)
  lines.each { |line| puts " !     #{line}" }
  exit 1
end

gemfile = File.join(build, "Gemfile")
# `ruby "3.1.2"`, `ruby "~> 3.1", ">= 3.1.2"`, `ruby("3.1.2", engine: ...)`
directive = File.read(gemfile).each_line.map(&:strip).grep(/\Aruby[\s(]/).first
requirements = directive ? directive.scan(/["']([^"']+)["']/).flatten.take_while { |r| r =~ /\A[\s~<>=!]*\d/ } : []
unless requirements.empty?
  begin
    requirement = Gem::Requirement.new(*requirements)
  rescue ArgumentError => e
    refuse(["The Gemfile's ruby directive (#{directive}) is not a version Bundler understands: #{e.message}",
            "Write it as `ruby \"~> #{series}.0\"` and push again."])
  end
  unless requirement.satisfied_by?(stack)
    refuse(["The Gemfile asks for Ruby #{requirements.join(', ')}; this stack has Ruby #{RUBY_VERSION}.",
            "Bundler reads `ruby \"X.Y\"` as exactly X.Y: to accept any #{series}.x write `ruby \"~> #{series}.0\"`.",
            "Change the ruby line (or remove it) and push again."])
  end
  puts "       The Gemfile asks for Ruby #{requirements.join(', ')}: the stack's #{RUBY_VERSION} satisfies it"
end

version_file = File.join(build, ".ruby-version")
if File.file?(version_file)
  wanted = File.read(version_file).strip.sub(/\Aruby-/, "")
  unless wanted =~ /\A\d+(\.\d+){0,2}\z/
    refuse([".ruby-version asks for \"#{wanted}\", which is not a Ruby version this stack can run (it has Ruby #{RUBY_VERSION}).",
            "Write \"#{RUBY_VERSION}\" in .ruby-version (or remove it) and push again."])
  end
  asked = Gem::Version.new(wanted).segments
  if asked.first(2) != stack.segments.first(asked.first(2).length)
    refuse([".ruby-version asks for Ruby #{wanted}; this stack has Ruby #{RUBY_VERSION}.",
            "Write \"#{RUBY_VERSION}\" in .ruby-version (or remove it) and push again."])
  end
  if asked.length == 3 && asked != stack.segments.first(3)
    puts "       .ruby-version asks for Ruby #{wanted}; the app runs on the stack's #{RUBY_VERSION} (same #{series} series)"
  else
    puts "       .ruby-version asks for Ruby #{wanted}: the stack's #{RUBY_VERSION} satisfies it"
  end
end
