"""The shop's public pages: a product list and product pages showing each product's clip."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from django_kling.site.clips import prefetch_clips

from .models import Product

PAGE_SIZE = 12


def visible_products(request: HttpRequest) -> QuerySet[Product]:
    """Published products; staff also see drafts (to check a clip before it goes live)."""
    products = Product.objects.all()
    return products if request.user.is_staff else products.filter(published=True)


def product_list(request: HttpRequest) -> HttpResponse:
    # prefetch_clips: the clips of a whole page in one query, however many products it has.
    products = prefetch_clips(Product.objects.filter(published=True))
    page = Paginator(products, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "shop/product_list.html", {"page": page})


def product_detail(request: HttpRequest, pk: int) -> HttpResponse:
    product = get_object_or_404(prefetch_clips(visible_products(request)), pk=pk)
    return render(request, "shop/product_detail.html", {"product": product})
