#!/bin/sh
# Put dist/Mneme.app into a compressed disk image, dist/Mneme-<version>-macos-<arch>.dmg,
# with a link to /Applications to drag it onto.
#
# NOT TESTED HERE: needs macOS (hdiutil; create-dmg from Homebrew is used for a
# laid-out window when it is installed). Run after `python packaging/build.py`
# has made dist/Mneme.app on a Mac:
#   sh packaging/macos/make_dmg.sh
#
# PyInstaller signs the bundle ad hoc, which runs on the machine that built it.
# For other Macs, sign with a Developer ID and notarize:
#   MNEME_CODESIGN_IDENTITY="Developer ID Application: ..." sh packaging/macos/make_dmg.sh
#   xcrun notarytool submit dist/Mneme-*.dmg --keychain-profile ... --wait
#   xcrun stapler staple dist/Mneme-*.dmg
set -eu

cd "$(dirname "$0")/../.."
APP=dist/Mneme.app
if [ ! -d "$APP" ]; then
    echo "dist/Mneme.app not found: build it first with python packaging/build.py" >&2
    exit 1
fi
VERSION=$(/usr/libexec/PlistBuddy -c "Print :CFBundleShortVersionString" "$APP/Contents/Info.plist")
DMG="dist/Mneme-$VERSION-macos-$(uname -m).dmg"

if [ -n "${MNEME_CODESIGN_IDENTITY:-}" ]; then
    codesign --force --deep --options runtime --timestamp \
        --sign "$MNEME_CODESIGN_IDENTITY" "$APP"
fi

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
cp -R "$APP" "$STAGE/"
rm -f "$DMG"

if command -v create-dmg >/dev/null 2>&1; then
    # create-dmg [options] <output.dmg> <source_folder>: the folder's contents go in.
    create-dmg \
        --volname "Mneme" \
        --volicon "packaging/icons/mneme.icns" \
        --window-size 540 360 \
        --icon-size 96 \
        --icon "Mneme.app" 140 170 \
        --hide-extension "Mneme.app" \
        --app-drop-link 400 170 \
        "$DMG" "$STAGE"
else
    ln -s /Applications "$STAGE/Applications"
    hdiutil create -volname "Mneme" -srcfolder "$STAGE" -ov -format UDZO "$DMG"
fi
echo "wrote $DMG"
