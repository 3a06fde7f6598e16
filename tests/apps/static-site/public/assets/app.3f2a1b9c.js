// A single-page app's router, in miniature: the server sends index.html for
// every path without a file (static.json's "/**" route), and this script
// shows which path was asked for.
document.getElementById("view").textContent = "You are at " + window.location.pathname;
