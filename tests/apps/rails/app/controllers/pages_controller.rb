class PagesController < ApplicationController
  def home
    @dyno = ENV.fetch("DYNO", "?")
  end
end
